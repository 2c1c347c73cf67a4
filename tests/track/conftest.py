"""Fixtures for the track stage: a sent abandoned-cart email and a sent SMS to click on."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage as Message

from notifier.clock import FrozenClock
from notifier.pipeline import Engine
from notifier.runtime import Runtime
from notifier.store.tables import Notification
from tests.engine.conftest import engine, notifications, outbox_files, put, tick

__all__ = ["engine"]  # the engine fixture, shared with tests/engine

ACTIVE = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SENT = ACTIVE + timedelta(hours=1)
CUSTOMER = {"external_id": "c-anna", "email": "anna@example.pl", "phone": "+48600100200",
            "first_name": "Anna", "salutation": "mrs", "locale": "pl",
            "timezone": "Europe/Warsaw"}
RECOVERY = "https://sklep.example.pl/cart/K-1"


def put_cart(runtime: Runtime, *, external_id: str = "K-1", at: datetime = ACTIVE,
             customer: dict[str, object] = CUSTOMER) -> None:
    consent = [{"channel": c, "purpose": "marketing", "granted": True,
                "at": "2026-01-01T00:00:00Z"} for c in ("email", "sms")]
    put(runtime, "cart", {"external_id": external_id, "currency": "PLN", "value": "98.00",
                          "items": [{"name": "Kubek", "quantity": 2, "price": "49.00"}],
                          "recovery_url": f"https://sklep.example.pl/cart/{external_id}",
                          "last_activity_at": at.isoformat(),
                          "customer": {**customer, "consents": consent}}, now=at)


async def sent_cart_email(runtime: Runtime, engine: Engine, clock: FrozenClock
                          ) -> tuple[Notification, Message]:
    put_cart(runtime)
    await tick(engine, clock, SENT)
    [n] = notifications(runtime)
    assert n.status == "sent", n.reason
    [path] = outbox_files(runtime, "email")
    return n, email.message_from_bytes(path.read_bytes(), policy=policy.default)


def text_of(msg: Message, kind: str = "text/plain") -> str:
    part = next(p for p in msg.walk() if p.get_content_type() == kind)
    return str(part.get_content())
