/* notifier: the service worker's part. The shop serves one line from its own origin,
 *   /notifier-sw.js:  importScripts("https://notify.example.com/push/sw.js");
 * Shows each push (title, body, icon, link), one notification per tag (a repeat replaces
 * the earlier one), reports clicks through the tracked link, and re-registers a
 * subscription the browser replaced (pushsubscriptionchange).
 */
(function () {
  "use strict";
  var CONFIG = /*NOTIFIER_CONFIG*/{};
  var STORE = "notifier-push", RECORD = "/__notifier/subscription";

  function keyBytes(b64url) {
    var b64 = (b64url + "===".slice((b64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(b64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function show(payload) {
    var options = {
      body: payload.body || "", icon: payload.icon || CONFIG.icon || undefined,
      data: {url: payload.url || ""}
    };
    if (payload.tag) { options.tag = payload.tag; options.renotify = false; }
    return self.registration.showNotification(payload.title || "", options);
  }

  self.addEventListener("push", function (event) {
    var payload = {};
    try { payload = event.data ? event.data.json() : {}; } catch (e) {
      payload = {body: event.data ? event.data.text() : ""};
    }
    event.waitUntil(show(payload));
  });

  self.addEventListener("notificationclick", function (event) {
    var url = (event.notification.data || {}).url;
    event.notification.close();
    if (!url) return;
    // The link is our tracked redirect (/r/{token}): opening it records the click. Where
    // the browser refuses to open a window, the click is still reported.
    event.waitUntil(self.clients.openWindow(url).catch(function () {
      return fetch(url, {mode: "no-cors", credentials: "omit"});
    }));
  });

  function recalled() {
    return caches.open(STORE).then(function (cache) { return cache.match(RECORD); })
      .then(function (r) { return r ? r.json() : null; }).catch(function () { return null; });
  }

  self.addEventListener("pushsubscriptionchange", function (event) {
    event.waitUntil(recalled().then(function (record) {
      var old = event.oldSubscription ? event.oldSubscription.toJSON() : record;
      if (!old) return;
      var renewed = event.newSubscription ? Promise.resolve(event.newSubscription)
        : self.registration.pushManager.subscribe({
            userVisibleOnly: true, applicationServerKey: keyBytes(CONFIG.vapidPublicKey)});
      return renewed.then(function (subscription) {
        var json = subscription.toJSON();
        return fetch(CONFIG.api, {
          method: "POST", mode: "cors", credentials: "omit",
          headers: {"Content-Type": "application/json"},
          body: JSON.stringify({
            publishable_key: CONFIG.publishableKey, subscription: json,
            replaces: {endpoint: old.endpoint, auth: old.keys ? old.keys.auth : old.auth}})
        }).then(function (r) {
          if (!r.ok) return;
          return caches.open(STORE).then(function (cache) {
            return cache.put(RECORD, new Response(JSON.stringify({
              endpoint: json.endpoint, auth: json.keys.auth,
              customer: !!(record && record.customer)})));
          });
        });
      });
    }));
  });
})();
