"""Our own JSON API: bearer keys, upserts, validation naming the field."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.runtime import Runtime
from notifier.store.tables import Cart, Customer, Order, Shipment

AUTH = {"Authorization": "Bearer test-key"}
ORDER = {
    "external_id": "A-1",
    "currency": "PLN",
    "total": "120.50",
    "placed_at": "2026-11-30T10:00:00+01:00",
    "customer": {"external_id": "c-1", "email": "Anna@Example.pl", "phone": "600 100 200",
                 "first_name": "Anna", "salutation": "mrs", "locale": "pl",
                 "timezone": "Europe/Warsaw",
                 "consents": [{"channel": "sms", "purpose": "marketing", "granted": True,
                               "at": "2026-11-01T10:00:00Z"}]},
}


def rows(runtime: Runtime, table: type) -> list:
    with runtime.sessions() as session:
        return list(session.exec(select(table)).all())


def test_requires_a_valid_bearer_key(client: TestClient) -> None:
    assert client.post("/v1/orders", json=ORDER).status_code == 401
    bad = {"Authorization": "Bearer other"}
    assert client.post("/v1/orders", json=ORDER, headers=bad).status_code == 401


def test_upsert_order_then_shipment_and_cart(client: TestClient, runtime: Runtime) -> None:
    assert client.post("/v1/orders", json=ORDER, headers=AUTH).status_code == 200
    assert client.post("/v1/orders", json={**ORDER, "total": "99.00"}, headers=AUTH).status_code \
        == 200
    [order] = rows(runtime, Order)
    assert str(order.total) in {"99.0000", "99.00"}
    [customer] = rows(runtime, Customer)
    assert customer.email == "anna@example.pl" and customer.phone == "+48600100200"
    shipment = {"external_id": "S-1", "order_external_id": "A-1", "carrier": "DPD",
                "status": "in_transit", "eta": "2026-12-04T12:00:00Z",
                "events": [{"at": "2026-12-01T09:00:00Z", "status": "in_transit"}]}
    assert client.post("/v1/shipments", json=shipment, headers=AUTH).status_code == 200
    assert rows(runtime, Shipment)[0].order_id == order.id
    cart = {"external_id": "K-1", "currency": "PLN", "value": "50", "email": "x@example.pl",
            "last_activity_at": "2026-11-30T10:00:00Z", "recovery_url": "https://s/r/K-1"}
    assert client.post("/v1/carts", json=cart, headers=AUTH).status_code == 200
    assert rows(runtime, Cart)[0].recovery_url == "https://s/r/K-1"


def test_idempotency_key_makes_a_retry_a_no_op(client: TestClient, runtime: Runtime) -> None:
    headers = {**AUTH, "Idempotency-Key": "retry-1"}
    first = client.post("/v1/orders", json=ORDER, headers=headers)
    again = client.post("/v1/orders", json=ORDER, headers=headers)
    assert first.json()["outcome"] == "applied" and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"


def test_validation_errors_name_the_field(client: TestClient, runtime: Runtime) -> None:
    cases = [
        ({**ORDER, "currency": "złoty"}, "currency"),
        ({**ORDER, "placed_at": "2026-11-30T10:00:00"}, "placed_at"),
        ({**ORDER, "customer": {**ORDER["customer"], "timezone": "Mars/Olympus"}},
         "customer.timezone"),
        ({**ORDER, "surprise": 1}, "surprise"),
        ({k: v for k, v in ORDER.items() if k != "total"}, "total"),
    ]
    for payload, field in cases:
        response = client.post("/v1/orders", json=payload, headers=AUTH)
        assert response.status_code == 422, payload
        assert response.json()["detail"]["field"] == field
    assert rows(runtime, Order) == []
    null_status = {"external_id": "S-9", "delivered_at": None, "status": None}
    response = client.post("/v1/shipments", json=null_status, headers=AUTH)
    assert response.status_code == 422 and response.json()["detail"]["field"] == "status"
    assert rows(runtime, Shipment) == []
    left_out = client.post("/v1/shipments", json={"external_id": "S-9"}, headers=AUTH)
    assert left_out.status_code == 200 and rows(runtime, Shipment)[0].status == "pending"


def test_healthz_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    schema = client.get("/openapi.json").json()
    assert "OrderIn" in schema["components"]["schemas"]
    assert "/webhooks/shopify" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_body_size_limit(client: TestClient) -> None:
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    assert client.post("/v1/orders", content=big, headers=AUTH).status_code == 413
