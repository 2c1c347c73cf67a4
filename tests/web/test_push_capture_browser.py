"""Storefront push capture in headless Chromium: a shop page on its own origin loads our
script, subscribes, and the engine stores the subscription for the signed customer; a push
the engine sends reaches a local push service encrypted for the browser's keys; the
service worker shows it, collapses a repeat, and reports the click through the tracked
redirect ``/r/{token}``.

Chromium's own push service (FCM) cannot be reached here, so the page's
``PushManager.subscribe`` hands out a subscription whose endpoint is the local push
service and whose keys the test holds (:class:`PushClient`); everything else is the real
browser: permission, service worker registration, our scripts, CORS, fetch. The push is
delivered into the service worker by DevTools' ``ServiceWorker.deliverPushMessage`` (a
real, trusted push event), with the payload the local push service decrypted.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Worker
from sqlmodel import select

from notifier.clock import FrozenClock
from notifier.config import Settings
from notifier.pipeline import build_engine
from notifier.runtime import Runtime
from notifier.store.push_tables import PushSubscriptionRow
from notifier.store.tables import Consent, Customer
from notifier.store.track_tables import LinkClick
from tests.conftest import REPO
from tests.engine.conftest import notifications, put
from tests.fakes.push_endpoint import FakePushService, PushClient
from tests.fakes.storefront import Storefront
from tests.push.conftest import capture_settings, customer_token
from tests.web.conftest import serving

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WAIT_MS = 20_000  # a deadline for the browser under a loaded CI machine, not a pause

# The one thing the page cannot get here: a subscription from Chromium's push service.
FAKE_PUSH_SERVICE = """
(() => {
  const given = %s;
  const bytes = (b64url) => Uint8Array.from(
    atob(b64url.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const b64url = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  let current = null;
  PushManager.prototype.subscribe = function (options) {
    window.__subscribeOptions = {userVisibleOnly: options.userVisibleOnly,
                                 key: b64url(options.applicationServerKey)};
    current = {
      endpoint: given.endpoint, expirationTime: null, options: options,
      getKey: (name) => bytes(name === "auth" ? given.auth : given.p256dh).buffer,
      toJSON: () => ({endpoint: given.endpoint, expirationTime: null,
                      keys: {p256dh: given.p256dh, auth: given.auth}}),
      unsubscribe: () => { current = null; return Promise.resolve(true); },
    };
    return Promise.resolve(current);
  };
  PushManager.prototype.getSubscription = function () { return Promise.resolve(current); };
})();
"""


def shop_page(engine_url: str, *, customer_token: str = "", cart_token: str = "K-1") -> str:
    # The three lines of the README: the script, its tokens, and a button.
    return f"""<!doctype html><html lang="pl"><head><meta charset="utf-8"><title>Sklep</title>
<script src="{engine_url}/push/subscribe.js" defer
        data-customer-token="{customer_token}" data-cart-token="{cart_token}"></script>
</head><body>
<button id="subscribe" onclick="notifierPush.subscribe({{marketing: true}})
  .then((r) => {{ window.__result = r; }}, (e) => {{ window.__result = {{error: String(e)}}; }})">
  Powiadamiaj mnie</button>
</body></html>"""


@pytest.fixture
def push_service() -> Iterator[FakePushService]:
    with FakePushService() as service:
        yield service


@pytest.fixture
def shop() -> Iterator[Storefront]:
    with Storefront() as store:
        yield store


@pytest.fixture
def other_shop() -> Iterator[Storefront]:
    with Storefront() as store:
        yield store


@pytest.fixture
def engine_socket() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
def settings(tmp_path: Path, db_url: str, shop: Storefront,
             engine_socket: socket.socket) -> Settings:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "cart-abandoned.toml").write_text(
        (REPO / "rules" / "cart-abandoned.toml").read_text(encoding="utf-8"), encoding="utf-8")
    url = f"http://127.0.0.1:{engine_socket.getsockname()[1]}"
    base = capture_settings(tmp_path, db_url, [shop.origin])
    return base.model_copy(update={
        "server": base.server.model_copy(update={"public_url": url}),
        "paths": base.paths.model_copy(update={"rules_dir": rules})})


@pytest.fixture
def engine_url(runtime: Runtime, engine_socket: socket.socket) -> Iterator[str]:
    with serving(runtime, engine_socket) as url:
        assert url == runtime.settings.server.public_url
        yield url


def storefront(shop: Storefront, engine_url: str, **page: str) -> None:
    shop.pages["/"] = ("text/html", shop_page(engine_url, **page))
    # The shop's one-line service worker, on its own origin (a worker must be same-origin).
    shop.pages["/notifier-sw.js"] = ("text/javascript",
                                     f'importScripts("{engine_url}/push/sw.js");\n')


def browser_context(browser: Browser, shop: Storefront, client: PushClient,
                    endpoint: str) -> BrowserContext:
    context = browser.new_context()
    context.grant_permissions(["notifications"], origin=shop.origin)
    sub = client.subscription(endpoint)
    context.add_init_script(FAKE_PUSH_SERVICE % json.dumps(
        {"endpoint": sub.endpoint, "p256dh": sub.p256dh, "auth": sub.auth}))
    return context


def click_subscribe(page: Page, shop: Storefront) -> dict[str, Any]:
    page.goto(shop.origin + "/")
    page.wait_for_function("() => window.notifierPush !== undefined", timeout=WAIT_MS)
    page.click("#subscribe")
    page.wait_for_function("() => window.__result !== undefined", timeout=WAIT_MS)
    result: dict[str, Any] = page.evaluate("() => window.__result")
    return result


def stored(runtime: Runtime) -> list[PushSubscriptionRow]:
    with runtime.sessions() as session:
        return list(session.exec(select(PushSubscriptionRow)))


def service_worker(context: BrowserContext) -> Worker:
    deadline = time.monotonic() + WAIT_MS / 1000
    while not context.service_workers:
        if time.monotonic() > deadline:
            pytest.fail("the shop's service worker did not start")
        context.pages[0].wait_for_timeout(20)
    return context.service_workers[0]


def deliver_push(page: Page, origin: str, data: str) -> None:
    """A real push event, as DevTools' Push button sends one."""
    cdp = page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda event: registrations.extend(event["registrations"]))
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + WAIT_MS / 1000
    while not any(r["scopeURL"].startswith(origin) for r in registrations):
        if time.monotonic() > deadline:
            pytest.fail("no service worker registration reported")
        page.wait_for_timeout(20)
    [reg] = [r for r in registrations if r["scopeURL"].startswith(origin) and not r["isDeleted"]]
    cdp.send("ServiceWorker.deliverPushMessage",
             {"origin": origin, "registrationId": reg["registrationId"], "data": data})


def shown(worker: Worker, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        notes: list[dict[str, Any]] = worker.evaluate("""async () =>
            (await self.registration.getNotifications()).map((n) => ({
              title: n.title, body: n.body, icon: n.icon, tag: n.tag, data: n.data}))""")
        if len(notes) >= count or time.monotonic() > deadline:
            return notes
        time.sleep(0.02)


def send_due(runtime: Runtime, clock: FrozenClock, moment: datetime) -> None:
    async def run() -> None:
        engine = build_engine(runtime, owner="browser-test")
        try:
            await engine.run_due(moment)
        finally:
            await engine.aclose()

    clock.set(moment)
    # Playwright's sync API holds this thread's event loop; the engine gets its own thread.
    worker = threading.Thread(target=asyncio.run, args=(run(),))
    worker.start()
    worker.join(timeout=60)


def test_shop_page_subscribes_push_arrives_encrypted_and_click_is_reported(
        browser: Browser, runtime: Runtime, clock: FrozenClock, engine_url: str,
        shop: Storefront, push_service: FakePushService) -> None:
    storefront(shop, engine_url,
               customer_token=customer_token("cust-42", NOW, valid_for=timedelta(hours=1)))
    device = PushClient.create()
    context = browser_context(browser, shop, device, push_service.endpoint("device-1"))
    page = context.new_page()

    result = click_subscribe(page, shop)
    assert result["status"] == 201, result
    assert page.evaluate("() => window.__subscribeOptions") == {
        "userVisibleOnly": True, "key": runtime.settings.push.webpush.vapid_public_key}
    [row] = stored(runtime)
    with runtime.sessions() as session:
        customer = session.exec(select(Customer).where(Customer.external_id == "cust-42")).one()
        consents = {c.purpose: c.source for c in session.exec(select(Consent))}
    assert row.customer_id == customer.id and row.marketing and row.source == shop.origin
    assert [s["endpoint"] for s in customer.push_subscriptions] == [row.endpoint]
    assert consents == {"transactional": f"push-subscribe {shop.origin}",
                        "marketing": f"push-subscribe {shop.origin}"}

    # The shop's platform reports the customer's cart; the engine's reminder goes by push.
    put(runtime, "cart", {
        "external_id": "K-1", "currency": "PLN", "value": "98.00",
        "items": [{"name": "Kubek", "quantity": 2, "price": "49.00"}],
        "recovery_url": shop.origin + "/cart/K-1", "last_activity_at": NOW.isoformat(),
        "customer": {"external_id": "cust-42", "locale": "pl"}}, now=NOW, source="shopify")
    send_due(runtime, clock, NOW + timedelta(hours=1, minutes=1))
    [n] = notifications(runtime)
    assert (n.status, n.channel) == ("sent", "push"), n.reason
    [request] = push_service.requests
    payload = json.loads(device.decrypt(request.body))  # only this browser's keys open it
    assert payload["title"] == "Koszyk czeka na dokończenie zamówienia"

    worker = service_worker(context)
    deliver_push(page, shop.origin, json.dumps(payload))
    deliver_push(page, shop.origin, json.dumps(payload))  # a repeat, same tag
    notes = shown(worker, 2)
    assert len(notes) == 1, notes
    [note] = notes
    assert note["title"] == payload["title"] and note["body"] == payload["body"]
    assert note["tag"] == payload["tag"] and note["icon"] == "https://sklep.example.pl/icon.png"
    assert note["data"]["url"] == payload["url"]

    # The link is the engine's tracked redirect; a person clicks a minute later.
    assert payload["url"].startswith(engine_url + "/r/")
    clock.set(clock() + timedelta(minutes=1))
    worker.evaluate("""async () => {
        const [notification] = await self.registration.getNotifications();
        self.dispatchEvent(new NotificationEvent("notificationclick", {notification}));
    }""")
    deadline = time.monotonic() + WAIT_MS / 1000
    while (not notifications(runtime)[0].clicks or "/cart/K-1" not in shop.requests) \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    [n] = notifications(runtime)
    assert n.clicks == 1 and n.clicked_at == clock()
    with runtime.sessions() as session:
        [click] = session.exec(select(LinkClick)).all()
    assert (click.notification_id, click.counted, click.method) == (n.id, True, "GET")
    assert "/cart/K-1" in shop.requests  # the redirect led to the cart
    assert shown(worker, 0) == []  # the click closed it
    context.close()


def test_refused_subscriptions_store_nothing(
        browser: Browser, runtime: Runtime, engine_url: str, shop: Storefront,
        other_shop: Storefront, push_service: FakePushService) -> None:
    device = PushClient.create()
    valid = customer_token("cust-42", NOW, valid_for=timedelta(hours=1))

    # A shop origin that is not configured: the browser's CORS preflight is refused.
    storefront(other_shop, engine_url, customer_token=valid)
    context = browser_context(browser, other_shop, device, push_service.endpoint("d-2"))
    page = context.new_page()
    assert "Failed to fetch" in click_subscribe(page, other_shop).get("error", "")
    context.close()

    # The configured origin, but an expired customer token.
    expired = customer_token("cust-42", NOW, valid_for=timedelta(seconds=-60))
    storefront(shop, engine_url, customer_token=expired)
    context = browser_context(browser, shop, device, push_service.endpoint("d-3"))
    page = context.new_page()
    result = click_subscribe(page, shop)
    assert result["status"] == 401
    assert result["body"]["detail"] == {"field": "customer_token", "error": "expired"}

    # The configured origin without the publishable key (a page calling us by hand).
    answer = page.evaluate("""async (api) => {
        const r = await fetch(api, {method: "POST", headers: {"Content-Type": "application/json"},
          body: JSON.stringify({subscription: {endpoint: "https://push.example.net/x",
            keys: {p256dh: "BP", auth: "AA"}}, customer_token: "x"})});
        return {status: r.status, body: await r.json()};
    }""", engine_url + "/push/subscriptions")
    assert answer["status"] == 401 and answer["body"]["detail"]["field"] == "publishable_key"
    context.close()
    assert stored(runtime) == []
    with runtime.sessions() as session:
        assert session.exec(select(Customer)).all() == []


def test_worker_re_registers_a_subscription_the_browser_replaced(
        browser: Browser, runtime: Runtime, engine_url: str, shop: Storefront,
        push_service: FakePushService) -> None:
    storefront(shop, engine_url,
               customer_token=customer_token("cust-42", NOW, valid_for=timedelta(hours=1)))
    context = browser_context(browser, shop, PushClient.create(), push_service.endpoint("old"))
    page = context.new_page()
    assert click_subscribe(page, shop)["status"] == 201
    [before] = stored(runtime)

    renewed = PushClient.create().subscription(push_service.endpoint("new"))
    # No oldSubscription, as Chromium sends it: the worker finds the old one in its cache.
    service_worker(context).evaluate("""(sub) => {
        const event = new ExtendableEvent("pushsubscriptionchange");
        Object.defineProperty(event, "oldSubscription", {value: null});
        Object.defineProperty(event, "newSubscription", {value: {toJSON: () => ({
            endpoint: sub.endpoint, expirationTime: null,
            keys: {p256dh: sub.p256dh, auth: sub.auth}})}});
        try { self.dispatchEvent(event); } catch (e) {}
    }""", {"endpoint": renewed.endpoint, "p256dh": renewed.p256dh, "auth": renewed.auth})
    deadline = time.monotonic() + WAIT_MS / 1000
    while stored(runtime)[0].endpoint != renewed.endpoint and time.monotonic() < deadline:
        time.sleep(0.02)
    [after] = stored(runtime)
    assert after.endpoint == renewed.endpoint and after.auth == renewed.auth
    assert after.customer_id == before.customer_id is not None and after.marketing
    with runtime.sessions() as session:
        customer = session.get(Customer, after.customer_id)
        assert customer is not None
        assert [s["endpoint"] for s in customer.push_subscriptions] == [renewed.endpoint]
    context.close()


def test_customer_turns_push_off_in_the_page(
        browser: Browser, runtime: Runtime, engine_url: str, shop: Storefront,
        push_service: FakePushService) -> None:
    storefront(shop, engine_url,
               customer_token=customer_token("cust-42", NOW, valid_for=timedelta(hours=1)))
    context = browser_context(browser, shop, PushClient.create(), push_service.endpoint("d"))
    page = context.new_page()
    assert click_subscribe(page, shop)["status"] == 201
    answer = page.evaluate("() => notifierPush.unsubscribe()")
    assert answer["status"] == 204, answer
    assert stored(runtime) == []
    with runtime.sessions() as session:
        assert session.exec(select(Customer)).one().push_subscriptions == []
    assert page.evaluate("() => navigator.serviceWorker.ready.then((r) => "
                         "r.pushManager.getSubscription())") is None
    context.close()
