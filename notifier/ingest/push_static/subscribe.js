/* notifier: Web Push subscription for the storefront. No build step, no dependencies.
 *
 *   <script src="https://notify.example.com/push/subscribe.js" defer
 *           data-customer-token="..." data-cart-token="..."></script>
 *   <button onclick="notifierPush.subscribe()">Powiadamiaj mnie</button>
 *
 * data-service-worker (default "/notifier-sw.js") is the one-line worker on the shop's own
 * origin: importScripts("https://notify.example.com/push/sw.js");
 * notifierPush.subscribe({marketing: true}) also asks for marketing messages.
 */
(function () {
  "use strict";
  var CONFIG = /*NOTIFIER_CONFIG*/{};
  var script = document.currentScript || {dataset: {}};
  var data = script.dataset || {};
  var STORE = "notifier-push", RECORD = "/__notifier/subscription";

  function keyBytes(b64url) {
    var b64 = (b64url + "===".slice((b64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(b64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function supported() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  function registration() {
    return navigator.serviceWorker.register(data.serviceWorker || "/notifier-sw.js")
      .then(function () { return navigator.serviceWorker.ready; });
  }

  function remember(record) {  // the worker reads it back on pushsubscriptionchange
    if (!("caches" in window)) return Promise.resolve();
    return caches.open(STORE).then(function (cache) {
      return cache.put(RECORD, new Response(JSON.stringify(record)));
    });
  }

  function recalled() {
    if (!("caches" in window)) return Promise.resolve(null);
    return caches.open(STORE).then(function (cache) { return cache.match(RECORD); })
      .then(function (r) { return r ? r.json() : null; });
  }

  function send(method, body) {
    body.publishable_key = CONFIG.publishableKey;
    return fetch(CONFIG.api, {
      method: method, mode: "cors", credentials: "omit",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (json) {
        return {ok: r.ok, status: r.status, body: json};
      });
    });
  }

  function post(subscription, options) {
    var json = subscription.toJSON();
    var body = {subscription: json, marketing: !!(options && options.marketing)};
    if (data.customerToken) body.customer_token = data.customerToken;
    if (data.cartToken) body.cart_token = data.cartToken;
    return send("POST", body).then(function (result) {
      if (!result.ok) return result;
      return remember({endpoint: json.endpoint, auth: json.keys.auth,
                       customer: !!data.customerToken}).then(function () { return result; });
    });
  }

  function subscribe(options) {
    if (!supported()) return Promise.resolve({ok: false, status: 0, body: {error: "unsupported"}});
    return Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") return {ok: false, status: 0, body: {error: permission}};
      return registration().then(function (reg) {
        return reg.pushManager.getSubscription().then(function (existing) {
          return existing || reg.pushManager.subscribe({
            userVisibleOnly: true, applicationServerKey: keyBytes(CONFIG.vapidPublicKey)});
        });
      }).then(function (subscription) { return post(subscription, options); });
    });
  }

  function unsubscribe() {
    if (!supported()) return Promise.resolve({ok: false, status: 0, body: {}});
    return registration().then(function (reg) { return reg.pushManager.getSubscription(); })
      .then(function (subscription) {
        if (!subscription) return {ok: true, status: 204, body: {}};
        var json = subscription.toJSON();
        return subscription.unsubscribe().then(function () {
          return send("DELETE", {endpoint: json.endpoint, auth: json.keys.auth});
        });
      });
  }

  // A customer who subscribed anonymously and has since signed in: link the subscription.
  function resync() {
    if (!supported() || Notification.permission !== "granted" || !data.customerToken) return;
    recalled().then(function (record) {
      if (record && record.customer) return;
      return registration().then(function (reg) { return reg.pushManager.getSubscription(); })
        .then(function (subscription) { if (subscription) return post(subscription, {}); });
    }).catch(function () {});
  }

  window.notifierPush = {subscribe: subscribe, unsubscribe: unsubscribe, supported: supported};
  resync();
})();
