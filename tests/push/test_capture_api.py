"""POST/DELETE /push/subscriptions and the two scripts, through the real app and database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.app import create_app
from notifier.clock import FrozenClock
from notifier.runtime import Runtime
from notifier.store import consent_log
from notifier.store.push_tables import PushSubscriptionRow
from notifier.store.tables import Consent, Customer
from tests.engine.conftest import put
from tests.fakes.push_endpoint import PushClient
from tests.push.conftest import PUBLISHABLE_KEY, SHOP_ORIGIN, customer_token

PATH = "/push/subscriptions"


def subscription_json(endpoint: str = "https://push.example.net/sub/1") -> dict[str, Any]:
    sub = PushClient.create().subscription(endpoint)
    return {"endpoint": sub.endpoint, "expirationTime": None,
            "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime), headers={"Origin": SHOP_ORIGIN})


def body(runtime: Runtime, **extra: Any) -> dict[str, Any]:
    now = runtime.clock()
    return {"publishable_key": PUBLISHABLE_KEY, "subscription": subscription_json(),
            "customer_token": customer_token("cust-7", now, valid_for=timedelta(hours=1)),
            **extra}


def rows(runtime: Runtime) -> list[PushSubscriptionRow]:
    with runtime.sessions() as session:
        return list(session.exec(select(PushSubscriptionRow)))


def test_signed_customer_gets_the_subscription_and_push_consent(
        client: TestClient, runtime: Runtime) -> None:
    sent = body(runtime, marketing=True)
    response = client.post(PATH, json=sent)
    assert response.status_code == 201, response.text
    assert response.json()["customer_linked"] is True
    assert response.headers["access-control-allow-origin"] == SHOP_ORIGIN
    with runtime.sessions() as session:
        customer = session.exec(select(Customer).where(Customer.external_id == "cust-7")).one()
        assert customer.source == "shopify"
        assert customer.push_subscriptions == [{
            "endpoint": sent["subscription"]["endpoint"],
            "p256dh": sent["subscription"]["keys"]["p256dh"],
            "auth": sent["subscription"]["keys"]["auth"]}]
        consents = {(c.purpose, c.granted, c.source, c.at)
                    for c in session.exec(select(Consent).where(Consent.channel == "push"))}
    at = runtime.clock()
    assert consents == {("transactional", True, f"push-subscribe {SHOP_ORIGIN}", at),
                        ("marketing", True, f"push-subscribe {SHOP_ORIGIN}", at)}
    with runtime.sessions() as session:
        trail = [(c.purpose, c.granted, c.outcome, c.source)
                 for c in consent_log.history(session, customer_id=customer.id or 0)]
    assert sorted(trail) == [("marketing", True, "applied", f"push-subscribe {SHOP_ORIGIN}"),
                             ("transactional", True, "applied", f"push-subscribe {SHOP_ORIGIN}")]
    assert client.post(PATH, json=sent).status_code == 200  # the same browser again


def test_transactional_only_unless_the_page_asks_for_marketing(
        client: TestClient, runtime: Runtime) -> None:
    assert client.post(PATH, json=body(runtime)).status_code == 201
    with runtime.sessions() as session:
        purposes = {c.purpose for c in session.exec(select(Consent))}
    assert purposes == {"transactional"}


@pytest.mark.parametrize(("change", "status", "field"), [
    ({"publishable_key": ""}, 401, "publishable_key"),
    ({"publishable_key": "pk_other"}, 401, "publishable_key"),
    ({"customer_token": "cust-7.1.abc"}, 401, "customer_token"),
    ({"customer_token": None}, 422, "customer_token"),
    ({"subscription": {"endpoint": "ftp://x", "keys": {"p256dh": "a", "auth": "b"}}}, 422,
     "subscription.endpoint"),
    ({"subscription": {"endpoint": "https://push.example.net/1",
                       "keys": {"p256dh": "AAAA", "auth": "AAAA"}}}, 422,
     "subscription.keys.p256dh"),
    ({"unknown": 1}, 422, "unknown"),
])
def test_refused_requests_store_nothing(client: TestClient, runtime: Runtime,
                                        change: dict[str, Any], status: int,
                                        field: str) -> None:
    response = client.post(PATH, json={**body(runtime), **change})
    assert response.status_code == status, response.text
    assert response.json()["detail"]["field"] == field
    assert rows(runtime) == []


def test_expired_and_long_lived_tokens_are_refused(client: TestClient, runtime: Runtime,
                                                   clock: FrozenClock) -> None:
    now = runtime.clock()
    for token, why in [(customer_token("cust-7", now, valid_for=timedelta(seconds=-1)),
                        "expired"),
                       (customer_token("cust-7", now, valid_for=timedelta(days=30)),
                        "expires more than 86400 s ahead")]:
        response = client.post(PATH, json={**body(runtime), "customer_token": token})
        assert response.status_code == 401
        assert response.json()["detail"] == {"field": "customer_token", "error": why}
    assert rows(runtime) == []


def test_an_origin_not_configured_is_refused(runtime: Runtime) -> None:
    other = TestClient(create_app(runtime), headers={"Origin": "https://evil.example"})
    preflight = other.options(PATH, headers={"Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    response = other.post(PATH, json=body(runtime))
    assert response.status_code == 403
    assert response.json()["detail"]["field"] == "Origin"
    assert rows(runtime) == []


def test_preflight_from_the_shop_is_allowed(client: TestClient) -> None:
    response = client.options(PATH, headers={"Access-Control-Request-Method": "POST",
                                             "Access-Control-Request-Headers": "content-type"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SHOP_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]


def test_anonymous_cart_subscription_is_linked_when_the_customer_signs_in(
        client: TestClient, runtime: Runtime) -> None:
    sub = subscription_json()
    anonymous = {"publishable_key": PUBLISHABLE_KEY, "subscription": sub, "cart_token": "c-1"}
    first = client.post(PATH, json=anonymous)
    assert first.status_code == 201 and first.json()["customer_linked"] is False
    [row] = rows(runtime)
    assert row.customer_id is None and row.cart_token == "c-1"
    with runtime.sessions() as session:
        assert session.exec(select(Consent)).all() == []  # nobody to hold it yet
    signed_in = client.post(PATH, json={**body(runtime), "subscription": sub})
    assert signed_in.status_code == 200 and signed_in.json()["customer_linked"] is True
    [row] = rows(runtime)
    assert row.customer_id is not None and row.cart_token == "c-1"


def test_delete_needs_the_subscriptions_own_secret(client: TestClient,
                                                   runtime: Runtime) -> None:
    sent = body(runtime)
    client.post(PATH, json=sent)
    endpoint = sent["subscription"]["endpoint"]
    wrong = client.request("DELETE", PATH, json={"publishable_key": PUBLISHABLE_KEY,
                                                 "endpoint": endpoint, "auth": "guess"})
    assert wrong.status_code == 404
    assert len(rows(runtime)) == 1
    right = client.request("DELETE", PATH, json={
        "publishable_key": PUBLISHABLE_KEY, "endpoint": endpoint,
        "auth": sent["subscription"]["keys"]["auth"]})
    assert right.status_code == 204
    assert rows(runtime) == []
    with runtime.sessions() as session:
        assert session.exec(select(Customer)).one().push_subscriptions == []


def test_subscription_change_moves_the_customer_to_the_new_subscription(
        client: TestClient, runtime: Runtime) -> None:
    sent = body(runtime, marketing=True)
    client.post(PATH, json=sent)
    old = sent["subscription"]
    new = subscription_json("https://push.example.net/sub/2")
    response = client.post(PATH, json={
        "publishable_key": PUBLISHABLE_KEY, "subscription": new,
        "replaces": {"endpoint": old["endpoint"], "auth": old["keys"]["auth"]}})
    assert response.status_code == 201, response.text
    [row] = rows(runtime)
    assert row.endpoint == new["endpoint"] and row.marketing and row.customer_id
    with runtime.sessions() as session:
        endpoints = [s["endpoint"] for s in session.exec(select(Customer)).one()
                     .push_subscriptions]
    assert endpoints == [new["endpoint"]]
    again = client.post(PATH, json={
        "publishable_key": PUBLISHABLE_KEY, "subscription": subscription_json(),
        "replaces": {"endpoint": old["endpoint"], "auth": old["keys"]["auth"]}})
    assert again.status_code == 404  # the old one is gone


def test_rate_limited_per_address_until_the_minute_passes(
        client: TestClient, runtime: Runtime, clock: FrozenClock) -> None:
    statuses = [client.post(PATH, json={"publishable_key": ""}).status_code for _ in range(6)]
    assert statuses == [422] * 5 + [429]
    clock.set(clock() + timedelta(seconds=61))
    assert client.post(PATH, json={"publishable_key": ""}).status_code == 422


def test_scripts_carry_the_configuration(client: TestClient, runtime: Runtime) -> None:
    settings = runtime.settings
    for name in ("subscribe.js", "sw.js"):
        response = client.get(f"/push/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/javascript")
        text = response.text
        assert settings.push.webpush.vapid_public_key in text
        assert PUBLISHABLE_KEY in text
        assert "http://127.0.0.1:8000/push/subscriptions" in text
        assert "/*NOTIFIER_CONFIG*/" not in text
        assert len(text.encode()) < 8192


@pytest.mark.parametrize("key", [{"external_id": "K-9"},
                                 {"external_id": "checkout-5", "alias": "K-9"}])
def test_anonymous_subscription_is_linked_when_its_cart_names_the_customer(
        client: TestClient, runtime: Runtime, key: dict[str, str]) -> None:
    """By our cart key, or by the platform's cart token (Shopify checkouts' cart_token)."""
    sub = subscription_json()
    client.post(PATH, json={"publishable_key": PUBLISHABLE_KEY, "subscription": sub,
                            "cart_token": "K-9"})
    at = runtime.clock()
    put(runtime, "cart", {**key, "currency": "PLN", "value": "10.00",
                          "last_activity_at": at.isoformat(),
                          "customer": {"external_id": "cust-9", "email": "e@example.pl"}},
        now=at, source="shopify")
    [row] = rows(runtime)
    with runtime.sessions() as session:
        customer = session.exec(select(Customer).where(Customer.external_id == "cust-9")).one()
        purposes = {c.purpose for c in session.exec(select(Consent))}
    assert row.customer_id == customer.id
    assert [s["endpoint"] for s in customer.push_subscriptions] == [sub["endpoint"]]
    assert purposes == {"transactional"}
