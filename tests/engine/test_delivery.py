"""Delivery through the whole engine to real local providers: an aiosmtpd server and the
real twilio client against a local fake Twilio, with faults and receipts."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage as Message
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from notifier.app import create_app
from notifier.cli import app as cli
from notifier.clock import FrozenClock
from notifier.config import Settings
from notifier.pipeline import Engine
from notifier.runtime import Runtime
from notifier.store.tables import Consent, DeliveryAttempt, Suppression
from tests.conftest import make_settings
from tests.engine.conftest import notifications, put, tick
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio_server import FakeTwilio, twilio_signature

SID, TOKEN = "AC" + "1" * 32, "twilio-token"
T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
# ship-by 12:00 Warsaw + 4 h grace: due at 16:00 Warsaw, outside SMS quiet hours.
DUE = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
CUSTOMER = {"external_id": "c-anna", "email": "anna@example.pl", "phone": "+48600100200",
            "first_name": "Anna", "salutation": "mrs", "locale": "pl",
            "timezone": "Europe/Warsaw"}


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(account_sid=SID, auth_token=TOKEN) as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink, twilio: FakeTwilio) -> Settings:
    return make_settings(
        tmp_path, database={"url": db_url},
        email={"transport": "smtp", "from": "Sklep <sklep@example.pl>",
               "smtp": {"host": smtp.host, "port": smtp.port, "starttls": False,
                        "timeout_s": 5}},
        sms={"transport": "twilio", "twilio": {"account_sid": SID, "auth_token": TOKEN,
                                               "from_number": "+48221234567",
                                               "api_base_url": twilio.url}},
        server={"public_url": "https://notify.example.pl"},
        delivery={"backoff_base_s": 60, "backoff_max_s": 600},
    )




def late_order(customer: dict[str, object] = CUSTOMER) -> dict[str, object]:
    return {"external_id": "1001", "currency": "PLN", "total": "249.00", "payment_status": "paid",
            "placed_at": T0.isoformat(), "ship_by": "2026-12-02T12:00:00+01:00",
            "deliver_by": "2026-12-04T12:00:00+01:00", "customer": customer}


def abandoned_cart(runtime: Runtime) -> datetime:
    """A cart of a customer who opted in to marketing email, last touched at the moment
    returned; its first reminder is due an hour later."""
    consent = [{"channel": "email", "purpose": "marketing", "granted": True,
                "at": "2026-01-01T00:00:00Z"}]
    active = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    put(runtime, "cart", {"external_id": "K-1", "currency": "PLN", "value": "98.00",
                          "items": [{"name": "Kubek", "quantity": 2, "price": "49.00"}],
                          "recovery_url": "https://sklep.example.pl/cart/K-1",
                          "last_activity_at": active.isoformat(),
                          "customer": {**CUSTOMER, "consents": consent}}, now=active)
    return active


def parsed(sink: SmtpSink) -> list[Message]:
    """The messages exactly as they arrived on the wire."""
    return [email.message_from_bytes(m.raw, policy=policy.default) for m in sink.messages]


async def test_marketing_email_arrives_once_with_list_unsubscribe(
    runtime: Runtime, engine: Engine, clock: FrozenClock, smtp: SmtpSink
) -> None:
    active = abandoned_cart(runtime)
    await tick(engine, clock, active + timedelta(hours=1))
    await tick(engine, clock, active + timedelta(hours=1, minutes=5))

    [msg] = parsed(smtp)
    assert msg["To"] == "anna@example.pl" and "sklep@example.pl" in msg["From"]
    assert msg["Subject"]
    assert msg["List-Unsubscribe"].startswith("<https://notify.example.pl/u/")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    kinds = [part.get_content_type() for part in msg.walk()]
    assert "text/plain" in kinds and "text/html" in kinds
    [n] = notifications(runtime)
    assert n.status == "sent" and n.provider_id and n.recipient == "anna@example.pl"


async def test_transactional_email_has_no_unsubscribe_header(
    runtime: Runtime, engine: Engine, clock: FrozenClock, smtp: SmtpSink
) -> None:
    put(runtime, "order", late_order(), now=T0)
    await tick(engine, clock, DUE)
    [msg] = parsed(smtp)
    assert msg["List-Unsubscribe"] is None
    text = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    assert "Pani Anno" in text.get_content()


async def test_smtp_down_then_up_delivers_once_after_a_retry(
    runtime: Runtime, engine: Engine, clock: FrozenClock, smtp: SmtpSink
) -> None:
    put(runtime, "order", late_order(), now=T0)
    smtp.stop()
    await tick(engine, clock, DUE)
    [n] = notifications(runtime)
    assert n.status == "pending" and n.attempts == 1 and n.reason.startswith("retry 2 at")
    assert DUE + timedelta(seconds=30) <= n.due_at <= DUE + timedelta(seconds=60)

    smtp.start()
    await tick(engine, clock, n.due_at - timedelta(seconds=1))
    assert smtp.messages == []
    await tick(engine, clock, n.due_at)
    await tick(engine, clock, n.due_at + timedelta(hours=1))
    assert len(smtp.messages) == 1
    [n] = notifications(runtime)
    assert (n.status, n.attempts) == ("sent", 2)
    with runtime.sessions() as session:
        outcomes = [a.outcome for a in session.exec(select(DeliveryAttempt)).all()]
    assert outcomes == ["retry", "sent"]


async def test_hard_bounce_suppresses_the_address_and_falls_back_to_sms(
    runtime: Runtime, engine: Engine, clock: FrozenClock, smtp: SmtpSink, twilio: FakeTwilio
) -> None:
    put(runtime, "order", late_order(), now=T0)
    smtp.fail_next("RCPT", 550, "5.1.1 No such user")
    await tick(engine, clock, DUE)
    [n] = notifications(runtime)
    assert (n.status, n.channel) == ("sent", "sms")
    assert [m["To"] for m in twilio.created] == ["+48600100200"]
    with runtime.sessions() as session:
        [sup] = session.exec(select(Suppression)).all()
    assert (sup.channel, sup.address) == ("email", "anna@example.pl")
    assert sup.reason.startswith("hard bounce")


async def test_twilio_500_then_success_and_signed_status_callback(
    runtime: Runtime, engine: Engine, clock: FrozenClock, twilio: FakeTwilio
) -> None:
    put(runtime, "order", late_order({**CUSTOMER, "email": None}), now=T0)
    twilio.script(FakeTwilio.server_error())
    await tick(engine, clock, DUE)
    [n] = notifications(runtime)
    assert n.status == "pending" and "twilio:20500" in n.reason
    await tick(engine, clock, n.due_at)
    [n] = notifications(runtime)
    assert n.status == "sent" and n.provider_id.startswith("SM")
    assert len(twilio.created) == 1
    assert twilio.created[0]["StatusCallback"] == (
        "https://notify.example.pl/webhooks/twilio/status")

    client = TestClient(create_app(runtime))
    url = "https://notify.example.pl/webhooks/twilio/status"
    form = {"MessageSid": n.provider_id, "MessageStatus": "delivered", "AccountSid": SID}
    bad = client.post("/webhooks/twilio/status", data=form,
                      headers={"X-Twilio-Signature": "forged"})
    assert bad.status_code == 403
    assert notifications(runtime)[0].status == "sent"
    good = client.post("/webhooks/twilio/status", data=form,
                       headers={"X-Twilio-Signature": twilio_signature(TOKEN, url, form)})
    assert good.status_code == 204
    [n] = notifications(runtime)
    assert n.status == "delivered" and n.delivered_at is not None


async def test_twilio_429_retry_after_is_honoured(
    runtime: Runtime, engine: Engine, clock: FrozenClock, twilio: FakeTwilio
) -> None:
    put(runtime, "order", late_order({**CUSTOMER, "email": None}), now=T0)
    twilio.script(FakeTwilio.rate_limited("900"))
    await tick(engine, clock, DUE)
    [n] = notifications(runtime)
    assert n.status == "pending" and n.due_at >= DUE + timedelta(seconds=900)
    await tick(engine, clock, DUE + timedelta(seconds=899))
    assert twilio.created == []
    await tick(engine, clock, DUE + timedelta(seconds=900))
    assert notifications(runtime)[0].status == "sent"


async def test_permanent_failure_on_last_channel_is_recorded_and_explained(
    runtime: Runtime, engine: Engine, clock: FrozenClock, twilio: FakeTwilio, tmp_path: Path
) -> None:
    put(runtime, "order", late_order({**CUSTOMER, "email": None}), now=T0)
    twilio.script(FakeTwilio.error(21211, message="Invalid 'To' Phone Number"))
    await tick(engine, clock, DUE)
    [n] = notifications(runtime)
    assert n.status == "failed" and "twilio:21211" in n.reason

    config = tmp_path / "cli.toml"
    config.write_text(f'[database]\nurl = "{runtime.settings.database_url}"\n', encoding="utf-8")
    listed = CliRunner().invoke(cli, ["--config", str(config), "notifications", "list",
                                      "--status", "failed"])
    assert listed.exit_code == 0 and "order-unshipped#0" in listed.output
    why = CliRunner().invoke(cli, ["--config", str(config), "notifications", "why", str(n.id)])
    assert "status: failed - permanent failure: twilio:21211" in why.output
    assert "attempt 1 sms" in why.output

    client = TestClient(create_app(runtime))
    api = client.get("/v1/notifications", params={"status": "failed"},
                     headers={"Authorization": "Bearer test-key"})
    [item] = api.json()
    assert item["attempts"][0]["error"].startswith("twilio:21211")


async def test_one_click_unsubscribe_stops_marketing(
    runtime: Runtime, engine: Engine, clock: FrozenClock, smtp: SmtpSink
) -> None:
    active = abandoned_cart(runtime)
    await tick(engine, clock, active + timedelta(hours=1))
    [msg] = parsed(smtp)
    path = msg["List-Unsubscribe"].split(",")[0].strip("<> ").replace(
        "https://notify.example.pl", "")

    client = TestClient(create_app(runtime))
    page = client.get(path)
    assert page.status_code == 200 and 'method="post"' in page.text
    assert client.get(path + "x").status_code == 404  # a tampered token
    # RFC 8058: the mail client POSTs List-Unsubscribe=One-Click.
    done = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    with runtime.sessions() as session:
        refused = {(c.channel, c.granted) for c in session.exec(select(Consent)).all()
                   if c.purpose == "marketing"}
    assert refused == {("email", False), ("sms", False), ("push", False)}

    await tick(engine, clock, active + timedelta(hours=30))
    second = notifications(runtime)[1]
    assert second.status == "skipped" and "customer refused marketing email" in second.reason
    assert len(smtp.messages) == 1
