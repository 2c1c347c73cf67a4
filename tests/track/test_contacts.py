"""POST /v1/contacts: our own shape and a helpdesk's JSON through its mapping."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.app import create_app
from notifier.config import Settings
from notifier.runtime import Runtime
from notifier.store.track_tables import Contact
from tests.conftest import make_settings
from tests.engine.conftest import put
from tests.track.conftest import ACTIVE, CUSTOMER

KEY = {"Authorization": "Bearer test-key"}
# A Zendesk-style trigger body, as a helpdesk's outgoing webhook would post it.
ZENDESK = {"ticket": {"id": 35436, "created_at": "2026-12-01T10:30:00Z", "via": "email",
                      "tags": ["vip", "gdzie_paczka"], "requester": {"email": "ANNA@example.pl"},
                      "custom_fields": {"order_number": "1001"}}}


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, database={"url": db_url}, track={"contacts": {"zendesk": {
        "id": "ticket.id", "customer_email": "ticket.requester.email",
        "order": "ticket.custom_fields.order_number", "channel": "ticket.via",
        "topic": "ticket.tags", "at": "ticket.created_at",
        "topics": {"gdzie_paczka": "where_is_my_order"}}}})


def stored(runtime: Runtime) -> list[Contact]:
    with runtime.sessions() as session:
        return list(session.exec(select(Contact)))


def test_our_shape_is_recorded_once_and_linked(runtime: Runtime) -> None:
    put(runtime, "order", {"external_id": "1001", "number": "1001", "currency": "PLN",
                           "total": "10.00", "customer": CUSTOMER}, now=ACTIVE)
    client = TestClient(create_app(runtime))
    body = {"id": "hd-1", "channel": "phone", "topic": "delay_complaint",
            "at": "2026-12-01T10:00:00Z", "order": "1001"}
    first = client.post("/v1/contacts", json=body, headers=KEY)
    assert first.status_code == 201 and first.json()["recorded"] is True
    assert first.json()["customer_id"] is not None  # from the order
    again = client.post("/v1/contacts", json=body, headers=KEY)
    assert again.status_code == 200 and again.json()["recorded"] is False
    [row] = stored(runtime)
    assert (row.source, row.topic, row.channel) == ("api", "delay_complaint", "phone")


def test_helpdesk_json_through_its_mapping(runtime: Runtime) -> None:
    put(runtime, "order", {"external_id": "1001", "number": "1001", "currency": "PLN",
                           "total": "10.00", "customer": CUSTOMER}, now=ACTIVE)
    client = TestClient(create_app(runtime))
    answer = client.post("/v1/contacts?source=zendesk", json=ZENDESK, headers=KEY)
    assert answer.status_code == 201, answer.text
    [row] = stored(runtime)
    assert (row.source, row.external_id, row.topic) == ("zendesk", "35436", "where_is_my_order")
    assert row.customer_id is not None and row.order_id is not None


@pytest.mark.parametrize(("query", "body", "status", "field"), [
    ("", {"id": "x", "channel": "chat", "topic": "lost", "at": "2026-12-01T10:00:00Z"},
     422, "topic"),
    ("", {"channel": "chat", "topic": "other", "at": "2026-12-01T10:00:00Z"}, 422, "id"),
    ("?source=zendesk", {"ticket": {"id": 1}}, 422, "ticket.created_at"),
    ("?source=unknown", {}, 404, None),
])
def test_bad_contacts_name_the_field(runtime: Runtime, query: str, body: dict[str, object],
                                     status: int, field: str | None) -> None:
    client = TestClient(create_app(runtime))
    answer = client.post("/v1/contacts" + query, json=body, headers=KEY)
    assert answer.status_code == status
    if field:
        assert answer.json()["detail"]["field"] == field
    assert stored(runtime) == []


def test_contacts_need_the_api_key(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    assert client.post("/v1/contacts", json={}).status_code == 401
