"""SMSAPI.pl through the whole engine: the real smsapi-client against a local fake sms.do,
fallback to the next channel, retries, and signed delivery reports changing the status."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.app import create_app
from notifier.callbacks import report_token
from notifier.clock import FrozenClock
from notifier.config import Settings
from notifier.pipeline import Engine
from notifier.runtime import Runtime
from notifier.store.tables import DeliveryAttempt, Suppression
from notifier.store.track_tables import ReceiptEvent
from tests.conftest import REPO, make_settings
from tests.engine.conftest import notifications, outbox_files, put, tick
from tests.fakes.http import Reply
from tests.fakes.smsapi_server import FakeSmsapi

TOKEN, SECRET = "smsapi-token", "server-secret"
T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
DUE = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 16:00 Warsaw: outside SMS quiet hours
CUSTOMER = {"external_id": "c-anna", "email": "anna@example.pl", "phone": "+48600100200",
            "first_name": "Anna", "locale": "pl", "timezone": "Europe/Warsaw"}
ORDER = {"external_id": "1001", "currency": "PLN", "total": "249.00", "payment_status": "paid",
         "placed_at": T0.isoformat(), "ship_by": "2026-12-02T12:00:00+01:00",
         "deliver_by": "2026-12-04T12:00:00+01:00", "customer": CUSTOMER}


@pytest.fixture
def smsapi() -> Iterator[FakeSmsapi]:
    with FakeSmsapi(token=TOKEN, username="sklep") as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smsapi: FakeSmsapi) -> Settings:
    # The shipped order rule with SMS first, so a failed SMS falls back to email.
    rules = tmp_path / "rules"
    rules.mkdir()
    rule = (REPO / "rules" / "order-unshipped.toml").read_text(encoding="utf-8")
    (rules / "order-unshipped.toml").write_text(
        rule.replace('channels = ["email", "sms"]', 'channels = ["sms", "email"]'),
        encoding="utf-8")
    return make_settings(
        tmp_path, database={"url": db_url},
        paths={"data_dir": tmp_path / "var", "rules_dir": rules,
               "templates_dir": REPO / "templates"},
        server={"public_url": "https://notify.example.pl", "secret_key": SECRET},
        sms={"transport": "smsapi",
             "smsapi": {"access_token": TOKEN, "sender": "Sklep", "username": "sklep",
                        "api_base_url": smsapi.url + "/", "inbound_token": "in-secret"}},
        delivery={"backoff_base_s": 60, "backoff_max_s": 600})


def status_path(idx: str) -> str:
    return f"/webhooks/smsapi/status/{report_token(idx, SECRET)}"


async def test_invalid_number_fails_permanently_and_falls_back_to_email(
        runtime: Runtime, engine: Engine, clock: FrozenClock, smsapi: FakeSmsapi) -> None:
    smsapi.invalid.add("48600100200")
    put(runtime, "order", ORDER, now=T0)
    await tick(engine, clock, DUE)
    [n] = notifications(runtime)
    assert (n.status, n.channel) == ("sent", "email")
    assert smsapi.sent == [] and len(smsapi.requests) == 1
    assert len(outbox_files(runtime, "email")) == 1
    with runtime.sessions() as session:
        attempts = [(a.channel, a.outcome, (a.error or "")[:9])
                    for a in session.exec(select(DeliveryAttempt))]
    assert attempts == [("sms", "failed", "smsapi:13"), ("email", "sent", "")]


async def test_gateway_5xx_retried_then_report_marks_delivered(
        runtime: Runtime, engine: Engine, clock: FrozenClock, smsapi: FakeSmsapi) -> None:
    put(runtime, "order", ORDER, now=T0)
    smsapi.script(Reply(503, "Service Unavailable"))
    await tick(engine, clock, DUE)
    [n] = notifications(runtime)
    assert n.status == "pending" and "smsapi:http-503" in (n.reason or "")
    await tick(engine, clock, n.due_at)
    [n] = notifications(runtime)
    [sent] = smsapi.sent
    assert n.status == "sent" and n.channel == "sms" and n.provider_id
    assert sent["to"] == "48600100200" and sent["from"] == "Sklep"
    assert sent["notify_url"] == "https://notify.example.pl" + status_path(sent["idx"])

    client = TestClient(create_app(runtime))
    report = smsapi.report(n.provider_id, 404)
    forged = client.get("/webhooks/smsapi/status/" + "0" * 32, params=report)
    assert forged.status_code == 403
    other_idx = client.get(status_path("another-message"), params=report)
    assert other_idx.status_code == 403
    other_account = client.get(status_path(sent["idx"]), params={**report, "username": "x"})
    assert other_account.status_code == 403
    no_status = client.get(status_path(sent["idx"]), params={**report, "status": "ok"})
    assert no_status.status_code == 400
    assert notifications(runtime)[0].status == "sent"

    queued = client.get(status_path(sent["idx"]), params=smsapi.report(n.provider_id, 409))
    assert (queued.status_code, queued.text) == (200, "OK")
    assert notifications(runtime)[0].status == "sent"
    for _ in range(2):  # SMSAPI repeats a report it thinks we missed: recorded once
        good = client.get(status_path(sent["idx"]), params=report)
        assert (good.status_code, good.text) == (200, "OK")
    [n] = notifications(runtime)
    assert n.status == "delivered"
    assert n.delivered_at == datetime.fromtimestamp(1764580000, UTC)
    with runtime.sessions() as session:
        [receipt] = session.exec(select(ReceiptEvent)).all()
    assert (receipt.provider, receipt.kind, receipt.notification_id) == (
        "smsapi", "delivered", n.id)


async def test_stopped_report_fails_and_a_stop_reply_suppresses_the_number(
        runtime: Runtime, engine: Engine, clock: FrozenClock, smsapi: FakeSmsapi) -> None:
    put(runtime, "order", ORDER, now=T0)
    await tick(engine, clock, DUE)
    [n] = notifications(runtime)
    client = TestClient(create_app(runtime))
    idx = smsapi.sent[0]["idx"]
    assert client.get(status_path(idx), params=smsapi.report(n.provider_id, 412)).text == "OK"
    [n] = notifications(runtime)
    assert n.status == "failed" and "412" in (n.reason or "")

    refused = client.post("/webhooks/smsapi/inbound/wrong", data={"sms_from": "48600100200",
                                                                 "sms_text": "STOP"})
    assert refused.status_code == 403
    with runtime.sessions() as session:
        assert session.exec(select(Suppression)).all() == []
    reply = client.post("/webhooks/smsapi/inbound/in-secret", data={
        "sms_from": "48600100200", "sms_to": "Sklep", "sms_text": " stop ",
        "sms_date": "1764580000", "username": "sklep", "MsgId": "9"})
    assert (reply.status_code, reply.text) == (200, "OK")
    with runtime.sessions() as session:
        numbers = {s.address for s in session.exec(select(Suppression))}
    assert numbers == {"+48600100200"}


async def test_blacklisted_number_is_suppressed_and_falls_back(
        runtime: Runtime, engine: Engine, clock: FrozenClock, smsapi: FakeSmsapi) -> None:
    smsapi.script(Reply(200, {"error": 57, "message": "Number is on the blacklist"}))
    put(runtime, "order", ORDER, now=T0)
    await tick(engine, clock, DUE)
    [n] = notifications(runtime)
    assert (n.status, n.channel) == ("sent", "email")
    with runtime.sessions() as session:
        [sup] = session.exec(select(Suppression)).all()
    assert (sup.channel, sup.address) == ("sms", "+48600100200")
