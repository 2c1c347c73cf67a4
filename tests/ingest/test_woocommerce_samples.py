"""WooCommerce's documented order and customer payloads (REST API v3, which webhooks
deliver unchanged), posted byte for byte: accepted and stored as documented."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.runtime import Runtime
from notifier.store.tables import Customer, Order
from tests.ingest.conftest import PAYLOADS, woo_headers

SAMPLES = PAYLOADS / "woocommerce-v3"


def post(client: TestClient, topic: str, name: str) -> dict:
    body = (SAMPLES / name).read_bytes()
    response = client.post("/webhooks/woocommerce", content=body,
                           headers=woo_headers(body, topic, delivery=f"{topic}-{name}"))
    assert 200 <= response.status_code < 300, response.text
    return response.json()


def one(runtime: Runtime, table: type):  # type: ignore[no-untyped-def]
    with runtime.sessions() as session:
        [row] = session.exec(select(table)).all()
        return row


@pytest.mark.parametrize("topic", ["order.created", "order.updated"])
def test_the_documented_order_is_stored(topic: str, client: TestClient,
                                        runtime: Runtime) -> None:
    assert post(client, topic, "order.json")["outcome"] == "applied"
    order = one(runtime, Order)
    assert (order.source, order.external_id, order.number) == ("woocommerce", "727", "727")
    assert order.total == Decimal("29.35") and order.currency == "USD"
    assert (order.status, order.payment_status, order.payment_method) == (
        "confirmed", "paid", "bacs")
    assert order.placed_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)
    assert order.shipping_method == "Flat Rate"
    assert [(i["name"], i["quantity"]) for i in order.items] == [
        ("Woo Single #1", 2), ("Ship Your Idea – Color: Black, Size: M Test", 1)]
    customer = one(runtime, Customer)  # a guest order: the buyer is known by the billing email
    assert (customer.email, customer.first_name) == ("john.doe@example.com", "John")
    assert order.customer_id == customer.id


@pytest.mark.parametrize("topic", ["customer.created", "customer.updated"])
def test_the_documented_customer_is_stored(topic: str, client: TestClient,
                                           runtime: Runtime) -> None:
    assert post(client, topic, "customer.json")["outcome"] == "applied"
    customer = one(runtime, Customer)
    assert (customer.external_id, customer.email, customer.first_name, customer.last_name) == (
        "25", "john.doe@example.com", "John", "Doe")
