"""Shopify's own sample payloads (webhook reference 2026-07), posted byte for byte as Shopify
sends them for "Send test notification": every subscribed topic is accepted and stored.

The samples live in tests/ingest/payloads/shopify-2026-07/ (SOURCES.md says where from).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from itertools import count
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.ingest.shopify import ShopifyAdapter
from notifier.runtime import Runtime
from notifier.store.tables import Cart, Consent, Customer, Order, Shipment
from tests.ingest.conftest import PAYLOADS, shopify_headers

SAMPLES = PAYLOADS / "shopify-2026-07"
SAMPLE_TIME = datetime(2022, 1, 1, 0, 0, tzinfo=UTC)  # "2021-12-31T19:00:00-05:00"
_EVENTS = count(1)


def sample(topic: str) -> Path:
    return SAMPLES / (topic.replace("/", "_") + ".json")


def post(client: TestClient, topic: str, body: bytes) -> dict:
    response = client.post("/webhooks/shopify", content=body, headers=shopify_headers(
        body, topic, event_id=f"sample-{next(_EVENTS)}", webhook_id=f"wh-{next(_EVENTS)}"))
    assert 200 <= response.status_code < 300, response.text
    return response.json()


def post_sample(client: TestClient, topic: str) -> dict:
    return post(client, topic, sample(topic).read_bytes())


def one(runtime: Runtime, table: type):  # type: ignore[no-untyped-def]
    with runtime.sessions() as session:
        [row] = session.exec(select(table)).all()
        return row


def rows(runtime: Runtime, table: type) -> list:
    with runtime.sessions() as session:
        return list(session.exec(select(table)).all())


def test_there_is_a_documented_sample_for_every_subscribed_topic() -> None:
    assert {t for t in ShopifyAdapter.topics if not sample(t).is_file()} == set()


def _order(runtime: Runtime) -> None:
    order = one(runtime, Order)
    assert (order.external_id, order.number, order.currency) == ("820982911946154508", "#9999",
                                                                 "USD")
    assert order.total == Decimal("404.95") and order.subtotal == Decimal("404.95")
    # The published sample is a cancelled, voided test order: stored, and never written to.
    assert order.is_test and order.status == "cancelled" and order.payment_status == "voided"
    assert order.placed_at == SAMPLE_TIME and order.cancelled_at == SAMPLE_TIME
    assert [i["name"] for i in order.items] == [
        "Aviator sunglasses", "Lens Protection Plan (2 Year)", "Premium Leather Case",
        "Mid-century lounger", "Coffee table"]
    assert order.shipping_method == "Generic Shipping"
    customer = one(runtime, Customer)
    assert (customer.external_id, customer.email) == ("115310627314723954", "john@example.com")
    assert order.customer_id == customer.id


def _checkout(runtime: Runtime) -> None:
    cart = one(runtime, Cart)
    assert (cart.external_id, cart.alias) == ("123123123", "eeafa272cebfd4b22385bc4b645e762c")
    assert cart.value == Decimal("421.88") and cart.currency == "USD"
    assert [i["name"] for i in cart.items] == ["IPod Nano - 8GB", "IPod Nano - 8GB"]
    assert cart.email == "example@email.com" and cart.last_activity_at == SAMPLE_TIME
    assert cart.recovery_url == ("https://checkout.local/548380009/checkouts/123123123/recover"
                                 "?key=example-secret-token")
    assert one(runtime, Customer).email == "john@example.com"
    assert cart.completed_at is None and cart.deleted_at is None


def _customer(runtime: Runtime) -> None:
    customer = one(runtime, Customer)
    assert (customer.external_id, customer.email, customer.first_name, customer.last_name) == (
        "706405506930370084", "bob@biller.com", "Bob", "Biller")


def _email_consent(runtime: Runtime) -> None:
    consent = one(runtime, Consent)
    assert (consent.channel, consent.purpose, consent.granted) == ("email", "marketing", False)
    assert consent.customer_id == one(runtime, Customer).id
    assert one(runtime, Customer).external_id == "706405506930370084"


def _sms_consent(runtime: Runtime) -> None:
    # The sample's SMS consent has no state: the customer is known, no word is recorded.
    assert one(runtime, Customer).external_id == "706405506930370084"
    assert rows(runtime, Consent) == []


def _fulfillment(runtime: Runtime) -> None:
    shipment = one(runtime, Shipment)
    assert (shipment.external_id, shipment.carrier, shipment.tracking_number) == (
        "123456", "UPS", "1z827wk74630")
    assert shipment.tracking_url == (
        "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums=1z827wk74630")
    assert shipment.status == "pending" and shipment.shipped_at == SAMPLE_TIME


def _fulfillment_event(runtime: Runtime) -> None:
    shipment = one(runtime, Shipment)
    assert shipment.external_id == "123456" and shipment.status == "in_transit"
    [event] = shipment.events
    assert (event["status"], event["message"]) == ("in_transit", "Item is now in transit")
    assert datetime.fromisoformat(event["at"]) == SAMPLE_TIME


STORED: dict[str, Callable[[Runtime], None]] = {
    "orders/create": _order, "orders/updated": _order, "orders/cancelled": _order,
    "orders/fulfilled": _order,
    "checkouts/create": _checkout, "checkouts/update": _checkout,
    "customers/create": _customer, "customers/update": _customer,
    "customers_email_marketing_consent/update": _email_consent,
    "customers_marketing_consent/update": _sms_consent,
    "fulfillments/create": _fulfillment, "fulfillments/update": _fulfillment,
    "fulfillment_events/create": _fulfillment_event,
}


def test_every_topic_but_delete_has_its_expectation() -> None:
    assert set(STORED) == ShopifyAdapter.topics - {"checkouts/delete"}


@pytest.mark.parametrize("topic", sorted(STORED))
def test_a_documented_sample_is_accepted_and_stored(
    topic: str, client: TestClient, runtime: Runtime
) -> None:
    assert post_sample(client, topic)["outcome"] == "applied"
    STORED[topic](runtime)


def test_checkouts_delete_finds_the_cart_by_its_cart_token(
    client: TestClient, runtime: Runtime
) -> None:
    # The delete sample has no token, only the checkout's id and its cart_token.
    post_sample(client, "checkouts/delete")  # a checkout we never stored: nothing to mark
    assert rows(runtime, Cart) == []
    post_sample(client, "checkouts/create")
    assert post_sample(client, "checkouts/delete")["outcome"] == "applied"
    assert one(runtime, Cart).deleted_at is not None


def test_a_checkout_without_id_is_completed_by_its_order(
    client: TestClient, runtime: Runtime
) -> None:
    post_sample(client, "checkouts/create")
    # A later payload carrying an id as well (older API versions) finds the same cart.
    with_id = {**json.loads(sample("checkouts/update").read_bytes()), "id": 981820079255243537}
    post(client, "checkouts/update", json.dumps(with_id).encode())
    assert len(rows(runtime, Cart)) == 1
    # The order sample as a live order from that checkout: its checkout_token is the token.
    order = {**json.loads(sample("orders/create").read_bytes()),
             "checkout_token": "123123123", "cancelled_at": None, "cancel_reason": None}
    post(client, "orders/create", json.dumps(order).encode())
    cart, placed = one(runtime, Cart), one(runtime, Order)
    assert cart.order_id == placed.id and cart.completed_at == SAMPLE_TIME
