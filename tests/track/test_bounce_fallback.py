"""A hard bounce reported by webhook suppresses the address: the customer's next
email-first notification goes by SMS, and the notification says why."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from notifier.app import create_app
from notifier.clock import FrozenClock
from notifier.config import Settings
from notifier.pipeline import Engine
from notifier.runtime import Runtime
from tests.conftest import make_settings
from tests.engine.conftest import notifications, outbox_files, put, tick
from tests.track.conftest import CUSTOMER, SENT, sent_cart_email

DUE = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # order-unshipped (email, then sms) is due


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, database={"url": db_url},
                         track={"postmark": {"username": "pm", "password": "pw"}})


async def test_hard_bounce_moves_the_next_message_to_sms(
        runtime: Runtime, engine: Engine, clock: FrozenClock) -> None:
    cart_email, _ = await sent_cart_email(runtime, engine, clock)
    # Postmark's documented bounce (payloads/postmark_bounce.json), naming our message.
    bounce = {"RecordType": "Bounce", "ID": 4323372036854775807, "Type": "HardBounce",
              "TypeCode": 1, "MessageID": cart_email.provider_id, "Email": CUSTOMER["email"],
              "BouncedAt": SENT.isoformat(), "Description": "mailbox not found"}
    auth = {"Authorization": "Basic " + base64.b64encode(b"pm:pw").decode()}
    client = TestClient(create_app(runtime))
    assert client.post("/webhooks/postmark", json=bounce, headers=auth).status_code == 200

    put(runtime, "order", {"external_id": "1001", "currency": "PLN", "total": "249.00",
                           "payment_status": "paid", "placed_at": "2026-11-30T09:15:00Z",
                           "ship_by": "2026-12-02T12:00:00+01:00",
                           "deliver_by": "2026-12-04T12:00:00+01:00", "customer": CUSTOMER},
        now=SENT)
    await tick(engine, clock, DUE)
    [order_notice] = notifications(runtime, rule="order-unshipped")
    assert order_notice.status == "sent" and order_notice.channel == "sms"
    assert "email: suppressed (hard bounce (postmark HardBounce))" in (order_notice.reason or "")
    assert len(outbox_files(runtime, "sms")) == 1
    assert len(outbox_files(runtime, "email")) == 1  # only the cart email, before the bounce
