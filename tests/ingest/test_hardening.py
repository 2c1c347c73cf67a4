"""What an adversarial pass sent at ingest (#11): each refused with a 4xx naming the field,
the raw event kept, nothing else stored; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.config import Settings
from notifier.ingest.bulk import import_lines
from notifier.runtime import Runtime
from notifier.store.tables import Customer, InboundEvent, Order
from tests.ingest.conftest import load, shopify_headers

AUTH = {"Authorization": "Bearer test-key"}
ORDER = {"external_id": "A-1", "currency": "PLN", "total": "120.50",
         "placed_at": "2026-11-30T10:00:00+01:00",
         "customer": {"external_id": "c-1", "email": "anna@example.pl"}}


def rows(runtime: Runtime, table: type) -> list:
    with runtime.sessions() as session:
        return list(session.exec(select(table)).all())


def shopify(client: TestClient, payload: dict | bytes, topic: str = "orders/create"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post("/webhooks/shopify", content=body, headers=shopify_headers(body, topic))


def assert_refused(runtime: Runtime, response, field: str, status: int = 422) -> None:
    assert response.status_code == status, response.text
    assert response.json()["detail"]["field"] == field, response.json()
    [event] = rows(runtime, InboundEvent)
    assert event.outcome == "rejected" and event.error
    assert rows(runtime, Order) == [] and rows(runtime, Customer) == []


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def test_a_quantity_no_message_can_render_is_refused_naming_shopifys_field(
    client: TestClient, runtime: Runtime
) -> None:
    order = load("shopify_order.json")
    order["line_items"][0]["quantity"] = 10**30
    assert_refused(runtime, shopify(client, order), "line_items.0.quantity")


def test_an_order_number_longer_than_any_message_holds_is_refused(
    client: TestClient, runtime: Runtime
) -> None:
    response = client.post("/v1/orders", json={**ORDER, "number": "9" * 500}, headers=AUTH)
    assert_refused(runtime, response, "number")


@pytest.mark.parametrize("field, value", [
    ("total", "1e30"), ("total", "NaN"), ("total", "Infinity"),
    ("items", [{"name": "x", "quantity": 10**6}]),
    ("items", [{"name": "x"}] * 501),
])
def test_amounts_quantities_and_lists_are_bounded(client: TestClient, runtime: Runtime,
                                                  field: str, value: object) -> None:
    response = client.post("/v1/orders", json={**ORDER, field: value}, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["field"].startswith(field)


def test_deeply_nested_json_is_refused_and_kept_raw(client: TestClient, runtime: Runtime) -> None:
    order = load("shopify_order.json")
    order["note_attributes"] = nested(40)
    response = shopify(client, order)
    assert response.status_code == 422
    assert response.json()["detail"]["field"].startswith("note_attributes.a.a")
    # Deeper than the JSON parser's own recursion limit: refused as a whole body.
    deep = b"[" * 100_000 + b"]" * 100_000
    response = client.post("/v1/orders", content=deep, headers=AUTH)
    assert response.status_code == 400 and response.json()["detail"]["field"] == "body"
    assert [e.outcome for e in rows(runtime, InboundEvent)] == ["rejected", "rejected"]
    assert rows(runtime, Order) == []


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
def test_dates_at_the_ends_of_the_calendar_are_refused_naming_the_field(
    client: TestClient, runtime: Runtime, when: str
) -> None:
    order = load("shopify_order.json")
    order["created_at"] = when
    assert_refused(runtime, shopify(client, order), "created_at")
    with runtime.sessions() as session:
        session.exec(sa.delete(InboundEvent))  # type: ignore[call-overload]
        session.commit()
    response = client.post("/v1/orders", json={**ORDER, "placed_at": when}, headers=AUTH)
    assert_refused(runtime, response, "placed_at")


def test_nul_characters_are_refused_naming_the_field_and_the_raw_event_kept(
    client: TestClient, runtime: Runtime
) -> None:
    order = load("shopify_order.json")
    order["line_items"][1]["title"] = "Czajnik\x00stalowy"
    assert_refused(runtime, shopify(client, order), "line_items.1.title")
    [event] = rows(runtime, InboundEvent)
    assert "Czajnik\\u0000stalowy" in event.payload


def test_a_raw_nul_byte_is_refused_and_still_logged(client: TestClient, runtime: Runtime) -> None:
    response = client.post("/v1/orders", content=b'{"external_id": "\x00"}', headers=AUTH)
    assert response.status_code == 400 and response.json()["detail"]["field"] == "body"
    [event] = rows(runtime, InboundEvent)
    assert "\x00" not in event.payload and "\\x00" in event.payload


def test_a_utf16_body_is_refused_not_stored_garbled(client: TestClient, runtime: Runtime) -> None:
    body = json.dumps(ORDER).encode("utf-16")
    assert_refused(runtime, client.post("/v1/orders", content=body, headers=AUTH), "body", 400)
    # WooCommerce and Shopify are refused the same way.
    response = shopify(client, json.dumps(load("shopify_order.json")).encode("utf-16-le"))
    assert response.status_code == 400 and response.json()["detail"]["field"] == "body"


@pytest.mark.parametrize("email", ["a>b@evil.com", "a@b.com>", '"a b"@x.pl', "a,b@x.pl",
                                   "<a@b.pl>", "a@b"])
def test_an_email_that_is_not_one_mailbox_is_refused(client: TestClient, runtime: Runtime,
                                                     email: str) -> None:
    order = {**ORDER, "customer": {"external_id": "c-1", "email": email}}
    response = client.post("/v1/orders", json=order, headers=AUTH)
    assert_refused(runtime, response, "customer.email")


def test_import_reports_a_bad_line_by_number_while_the_rest_imports(
    tmp_path: Path, runtime: Runtime, settings: Settings
) -> None:
    good = [json.dumps({"type": "order", "external_id": f"o{i}", "currency": "PLN",
                        "total": "10", "placed_at": "2026-11-30T10:00:00Z"}) for i in range(4)]
    lines = [
        good[0],
        '{"type": "order", "x": ' * 5000 + "1" + "}" * 5000,
        good[1],
        json.dumps({"type": "order", "external_id": "late", "currency": "PLN", "total": "1",
                    "placed_at": "9999-12-31T23:00:00Z"}),
        good[2],
        json.dumps({"type": "customer", "external_id": "c\x00"}),
        good[3],
    ]
    summary = import_lines(lines, factory=runtime.sessions, settings=settings,
                           now=runtime.clock(), batch_size=10)
    assert summary.accepted == 4
    assert [number for number, _ in summary.rejected] == [2, 4, 6]
    assert "placed_at" in summary.rejected[1][1] and "external_id" in summary.rejected[2][1]
    assert sorted(o.external_id for o in rows(runtime, Order)) == ["o0", "o1", "o2", "o3"]


def test_sqlite_commits_are_fsynced(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragma")
    with runtime.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
