"""``Idempotency-Key`` never drops acknowledged data (#11 item 2): scoped to (API key,
endpoint), bound to the body, expiring after ``api.idempotency_key_ttl``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.app import create_app
from notifier.clock import FrozenClock
from notifier.runtime import Runtime, create_runtime
from notifier.store.idempotency import IdempotencyKey
from notifier.store.tables import Customer, InboundEvent, Order
from tests.conftest import make_settings

A = {"Authorization": "Bearer key-a"}
B = {"Authorization": "Bearer key-b"}
ORDER = {"external_id": "A-1", "currency": "PLN", "total": "10"}


@pytest.fixture
def two_keys(tmp_path: Path, db_url: str, clock: FrozenClock):
    settings = make_settings(tmp_path, database={"url": db_url},
                             api={"keys": ["key-a", "key-b"], "idempotency_key_ttl": "1d"})
    runtime = create_runtime(settings, clock=clock)
    with TestClient(create_app(runtime)) as client:
        yield client, runtime
    runtime.close()


def rows(runtime: Runtime, table: type) -> list:
    with runtime.sessions() as session:
        return list(session.exec(select(table)).all())


def post(client: TestClient, path: str, body: dict, auth: dict, key: str = "k-1"):
    return client.post(path, json=body, headers={**auth, "Idempotency-Key": key})


def test_the_same_key_and_body_get_the_first_answer_again(two_keys) -> None:
    client, runtime = two_keys
    first = post(client, "/v1/orders", ORDER, A)
    again = post(client, "/v1/orders", ORDER, A)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() == {"outcome": "applied",
                                            "event_id": first.json()["event_id"]}
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(rows(runtime, Order)) == 1 and len(rows(runtime, InboundEvent)) == 1


def test_the_same_key_with_another_body_is_refused_naming_the_conflict(two_keys) -> None:
    client, runtime = two_keys
    post(client, "/v1/orders", ORDER, A)
    changed = post(client, "/v1/orders", {**ORDER, "total": "99"}, A)
    assert changed.status_code == 422
    assert changed.json()["detail"]["field"] == "Idempotency-Key"
    assert "different body" in changed.json()["detail"]["error"]
    [order] = rows(runtime, Order)
    assert str(order.total).startswith("10")
    # The refused request is kept raw, so nothing acknowledged is lost without a trace.
    assert [e.outcome for e in rows(runtime, InboundEvent)] == ["applied", "rejected"]


def test_keys_are_scoped_to_the_api_key_and_the_endpoint(two_keys) -> None:
    client, runtime = two_keys
    assert post(client, "/v1/orders", ORDER, A).json()["outcome"] == "applied"
    # Another integration (API key) using the same key is not a retry of the first.
    assert post(client, "/v1/orders", {**ORDER, "external_id": "B-1"}, B).json()["outcome"] \
        == "applied"
    # Nor is the same integration on another endpoint.
    customer = {"external_id": "c-1", "email": "anna@example.pl"}
    assert post(client, "/v1/customers", customer, A).json()["outcome"] == "applied"
    assert sorted(o.external_id for o in rows(runtime, Order)) == ["A-1", "B-1"]
    assert len(rows(runtime, Customer)) == 1
    assert "key-a" not in " ".join(k.scope for k in rows(runtime, IdempotencyKey))


def test_a_key_expires_after_the_documented_time(two_keys, clock: FrozenClock) -> None:
    client, runtime = two_keys
    post(client, "/v1/orders", ORDER, A)
    clock.set(clock() + timedelta(hours=23))
    assert post(client, "/v1/orders", {**ORDER, "total": "20"}, A).status_code == 422
    clock.set(clock() + timedelta(hours=2))
    fresh = post(client, "/v1/orders", {**ORDER, "total": "20"}, A)
    assert fresh.status_code == 200 and "Idempotent-Replayed" not in fresh.headers
    assert str(rows(runtime, Order)[0].total).startswith("20")
    assert len(rows(runtime, IdempotencyKey)) == 1


def test_a_refused_request_keeps_no_key_so_the_corrected_retry_applies(two_keys) -> None:
    client, _ = two_keys
    assert post(client, "/v1/orders", {**ORDER, "currency": "złoty"}, A).status_code == 422
    assert post(client, "/v1/orders", ORDER, A).json()["outcome"] == "applied"


def test_an_overlong_key_is_refused_naming_the_header(two_keys) -> None:
    client, _ = two_keys
    response = post(client, "/v1/orders", ORDER, A, key="k" * 300)
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "Idempotency-Key"
