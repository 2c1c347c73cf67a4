"""WooCommerce webhooks end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.runtime import Runtime
from notifier.store.tables import Customer, InboundEvent, Order
from tests.ingest.conftest import load, woo_headers


def post(client: TestClient, topic: str, payload: dict | bytes, **kw: str):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = woo_headers(body, topic, **kw)
    return client.post("/webhooks/woocommerce", content=body, headers=headers)


def rows(runtime: Runtime, table: type) -> list:
    with runtime.sessions() as session:
        return list(session.exec(select(table)).all())


def test_ping_on_webhook_creation_is_answered(client: TestClient, runtime: Runtime) -> None:
    response = client.post("/webhooks/woocommerce", content=b"webhook_id=12",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    assert rows(runtime, InboundEvent) == []


def test_order_created_maps_cod_order(client: TestClient, runtime: Runtime) -> None:
    response = post(client, "order.created", load("woocommerce_order.json"))
    assert response.status_code == 200, response.text
    [order] = rows(runtime, Order)
    assert (order.source, order.external_id, order.status) == ("woocommerce", "727", "confirmed")
    assert order.payment_method == "cod" and order.total == Decimal("261.00")
    assert order.placed_at.isoformat() == "2026-11-30T09:15:00+00:00"
    assert order.shipping_method == "Kurier DPD" and order.ship_by is not None
    [customer] = rows(runtime, Customer)
    assert customer.phone == "+48512345678" and customer.first_name == "Tomasz"


def test_invalid_signature_is_401(client: TestClient, runtime: Runtime) -> None:
    response = post(client, "order.created", load("woocommerce_order.json"), secret="nope")
    assert response.status_code == 401
    assert rows(runtime, InboundEvent) == [] and rows(runtime, Order) == []


def test_duplicate_delivery_and_older_snapshot(client: TestClient, runtime: Runtime) -> None:
    order = load("woocommerce_order.json")
    completed = {**order, "status": "completed", "date_modified_gmt": "2026-12-01T10:00:00",
                 "date_completed_gmt": "2026-12-01T10:00:00"}
    assert post(client, "order.updated", completed, delivery="d-2").json()["outcome"] == "applied"
    assert post(client, "order.updated", completed, delivery="d-2").json()["outcome"] == "duplicate"
    assert post(client, "order.created", order, delivery="d-1").json()["outcome"] == "stale"
    [stored] = rows(runtime, Order)
    assert stored.status == "shipped"
    assert stored.shipped_at.isoformat() == "2026-12-01T10:00:00+00:00"
    assert len(rows(runtime, InboundEvent)) == 2


def test_wrong_type_names_the_field(client: TestClient, runtime: Runtime) -> None:
    order = load("woocommerce_order.json")
    order["total"] = {"amount": 261}
    response = post(client, "order.created", order)
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "total"
    assert [e.outcome for e in rows(runtime, InboundEvent)] == ["rejected"]
    assert rows(runtime, Order) == []


def test_customer_updated(client: TestClient, runtime: Runtime) -> None:
    payload = {"id": 26, "email": "tomasz.nowak@example.pl", "first_name": "Tomasz",
               "last_name": "Nowak", "date_modified_gmt": "2026-11-30T09:00:00",
               "billing": {"phone": "+48 512 345 678", "email": "tomasz.nowak@example.pl"}}
    assert post(client, "customer.updated", payload).status_code == 200
    [customer] = rows(runtime, Customer)
    assert customer.phone == "+48512345678" and customer.external_id == "26"
