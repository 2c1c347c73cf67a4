"""Shopify webhooks end to end through the HTTP app, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.runtime import Runtime
from notifier.store.tables import Cart, Consent, Customer, InboundEvent, Order, Shipment
from tests.ingest.conftest import load, shopify_headers


def post(client: TestClient, topic: str, payload: dict | bytes, **kw: str):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post("/webhooks/shopify", content=body,
                       headers=shopify_headers(body, topic, **kw))


def rows(runtime: Runtime, table: type) -> list:
    with runtime.sessions() as session:
        return list(session.exec(select(table)).all())


def test_order_create_stores_order_customer_consent_and_promise(
    client: TestClient, runtime: Runtime
) -> None:
    response = post(client, "orders/create", load("shopify_order.json"))
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "applied"

    [order] = rows(runtime, Order)
    assert (order.source, order.external_id, order.number) == ("shopify", "820982911946154508",
                                                               "#1001")
    assert order.total == Decimal("413.99") and order.currency == "PLN"
    assert order.payment_status == "paid" and order.status == "confirmed"
    assert order.discount_codes == ["WELCOME10"]
    assert [i["name"] for i in order.items] == ["Kubek ceramiczny", "Czajnik stalowy"]
    assert order.shipping_method == "Kurier InPost"
    # Placed Monday 2026-11-30; default service level: ship within 1 business day,
    # deliver 2 business days later, deadlines at the end of the day in Warsaw.
    assert order.ship_by.isoformat() == "2026-12-01T22:59:59+00:00"
    assert order.deliver_by.isoformat() == "2026-12-03T22:59:59+00:00"

    [customer] = rows(runtime, Customer)
    assert customer.phone == "+48600100200" and customer.first_name == "Anna"
    assert order.customer_id == customer.id
    consents = {(c.channel, c.granted) for c in rows(runtime, Consent)}
    assert consents == {("email", True), ("sms", False)}


def test_invalid_signature_is_401_and_stores_nothing(client: TestClient, runtime: Runtime) -> None:
    body = json.dumps(load("shopify_order.json")).encode()
    headers = shopify_headers(body, "orders/create", secret="wrong")
    assert client.post("/webhooks/shopify", content=body, headers=headers).status_code == 401
    headers.pop("X-Shopify-Hmac-Sha256")
    assert client.post("/webhooks/shopify", content=body, headers=headers).status_code == 401
    assert rows(runtime, InboundEvent) == [] and rows(runtime, Order) == []


def test_previous_secret_is_accepted_during_rotation(client: TestClient, runtime: Runtime) -> None:
    response = post(client, "orders/create", load("shopify_order.json"), secret="shpss_old")
    assert response.status_code == 200
    assert len(rows(runtime, Order)) == 1


def test_duplicate_delivery_changes_nothing(client: TestClient, runtime: Runtime) -> None:
    payload = load("shopify_order.json")
    assert post(client, "orders/create", payload).json()["outcome"] == "applied"
    payload["total_price"] = "1.00"  # even a tampered resend with the same event id is a no-op
    second = post(client, "orders/create", payload)
    assert second.status_code == 200 and second.json()["outcome"] == "duplicate"
    assert len(rows(runtime, InboundEvent)) == 1
    assert rows(runtime, Order)[0].total == Decimal("413.99")


def test_older_update_after_newer_is_stale(client: TestClient, runtime: Runtime) -> None:
    newer = load("shopify_order.json")
    newer["updated_at"] = "2026-11-30T12:00:00+01:00"
    newer["total_price"] = "500.00"
    older = load("shopify_order.json")
    older["updated_at"] = "2026-11-30T11:00:00+01:00"
    assert post(client, "orders/updated", newer, event_id="e-new").json()["outcome"] == "applied"
    answer = post(client, "orders/updated", older, event_id="e-old")
    assert answer.status_code == 200 and answer.json()["outcome"] == "stale"
    assert rows(runtime, Order)[0].total == Decimal("500.00")


def test_malformed_json_is_400_and_only_the_raw_event_is_kept(
    client: TestClient, runtime: Runtime
) -> None:
    response = post(client, "orders/create", b'{"id": 1, "total_price": ')
    assert response.status_code == 400
    assert response.json()["detail"]["field"] == "body"
    [event] = rows(runtime, InboundEvent)
    assert event.outcome == "rejected" and event.payload.startswith('{"id": 1')
    assert rows(runtime, Order) == [] and rows(runtime, Customer) == []


def test_wrong_type_names_the_field(client: TestClient, runtime: Runtime) -> None:
    payload = load("shopify_order.json")
    payload["line_items"][1]["quantity"] = "a few"
    response = post(client, "orders/create", payload)
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "line_items.1.quantity"
    assert [e.outcome for e in rows(runtime, InboundEvent)] == ["rejected"]
    assert rows(runtime, Order) == [] and rows(runtime, Customer) == []


def test_bad_phone_names_the_field_and_stores_nothing(client: TestClient, runtime: Runtime) -> None:
    payload = load("shopify_order.json")
    payload["customer"]["phone"] = "call me maybe"
    response = post(client, "orders/create", payload)
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "customer.phone"
    assert rows(runtime, Customer) == []


def test_fulfillment_and_tracking_event_build_the_shipment(
    client: TestClient, runtime: Runtime
) -> None:
    post(client, "orders/create", load("shopify_order.json"), event_id="e1")
    assert post(client, "fulfillments/create", load("shopify_fulfillment.json"),
                event_id="e2").status_code == 200
    event = load("shopify_fulfillment_event.json")
    assert post(client, "fulfillment_events/create", event, event_id="e3").status_code == 200
    # The same carrier event delivered again under another webhook: kept once.
    post(client, "fulfillment_events/create", event, event_id="e4")

    [shipment] = rows(runtime, Shipment)
    assert shipment.carrier == "InPost" and shipment.status == "in_transit"
    assert shipment.tracking_number == "620000111222333444555666"
    assert shipment.eta.isoformat() == "2026-12-05T17:00:00+00:00"
    assert len(shipment.events) == 1
    assert shipment.last_event_at.isoformat() == "2026-12-02T07:30:00+00:00"
    [order] = rows(runtime, Order)
    assert shipment.order_id == order.id and order.status == "shipped"
    assert order.shipped_at.isoformat() == "2026-12-01T13:00:00+00:00"


def test_delivered_event_marks_order_delivered(client: TestClient, runtime: Runtime) -> None:
    post(client, "orders/create", load("shopify_order.json"), event_id="e1")
    post(client, "fulfillments/create", load("shopify_fulfillment.json"), event_id="e2")
    event = load("shopify_fulfillment_event.json")
    event.update(id=944956396, status="delivered", happened_at="2026-12-03T12:00:00+01:00")
    post(client, "fulfillment_events/create", event, event_id="e3")
    [order] = rows(runtime, Order)
    assert order.status == "delivered"
    assert order.delivered_at.isoformat() == "2026-12-03T11:00:00+00:00"


def test_checkout_becomes_cart_and_completes_with_the_order(
    client: TestClient, runtime: Runtime
) -> None:
    post(client, "checkouts/create", load("shopify_checkout.json"), event_id="e1")
    [cart] = rows(runtime, Cart)
    assert cart.recovery_url.startswith("https://sklep.example.pl/")
    assert cart.value == Decimal("98.00") and cart.completed_at is None
    post(client, "orders/create", load("shopify_order.json"), event_id="e2")
    [cart] = rows(runtime, Cart)
    assert cart.completed_at is not None and cart.order_id == rows(runtime, Order)[0].id


def test_checkout_delete_marks_cart_gone(client: TestClient, runtime: Runtime) -> None:
    checkout = load("shopify_checkout.json")
    post(client, "checkouts/create", checkout, event_id="e1")
    post(client, "checkouts/delete", {"id": checkout["id"], "token": checkout["token"]},
         event_id="e2")
    assert rows(runtime, Cart)[0].deleted_at is not None


def test_consent_topics_update_consent_without_blanking_the_customer(
    client: TestClient, runtime: Runtime
) -> None:
    post(client, "orders/create", load("shopify_order.json"), event_id="e1")
    post(client, "customers_email_marketing_consent/update", {
        "customer_id": 115310627314723954,
        "email_address": "anna.kowalska@example.pl",
        "email_marketing_consent": {"state": "unsubscribed", "opt_in_level": "single_opt_in",
                                    "consent_updated_at": "2026-12-01T08:00:00+01:00"},
    }, event_id="e2")
    post(client, "customers_marketing_consent/update", {
        "id": 115310627314723954, "phone": "+48600100200",
        "sms_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in",
                                  "consent_updated_at": "2026-12-01T08:05:00+01:00",
                                  "consent_collected_from": "SHOPIFY"},
    }, event_id="e3")
    consents = {(c.channel, c.purpose): c.granted for c in rows(runtime, Consent)}
    assert consents == {("email", "marketing"): False, ("sms", "marketing"): True}
    [customer] = rows(runtime, Customer)
    assert customer.first_name == "Anna" and customer.email == "anna.kowalska@example.pl"


def test_unknown_topic_is_acknowledged(client: TestClient, runtime: Runtime) -> None:
    response = post(client, "products/create", {"id": 1})
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"
    assert rows(runtime, InboundEvent) == []
