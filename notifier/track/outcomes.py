"""Recording what a provider reported about a message, once per provider event.

Every receipt module (SES, Mailgun, SendGrid, Postmark, the bounce mailbox) turns its
provider's payload into :class:`Receipt` values; :func:`apply_receipt` stores each in
``receipt_events`` (``(provider, event_id)`` unique: a resent event adds nothing) and
updates the notification it names. Consequences are decided here, once for all
providers: a hard bounce suppresses the address for email (every purpose), a complaint
or a provider-side unsubscribe stops marketing email to it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from notifier.store import outbox
from notifier.store.db import transaction
from notifier.store.sql import insert_ignore
from notifier.store.tables import Notification
from notifier.store.track_tables import ReceiptEvent

log = logging.getLogger(__name__)

KINDS = ("delivered", "deferred", "bounced", "complained", "unsubscribed", "opened")


@dataclass(frozen=True)
class Receipt:
    """One provider event. ``message_ids`` are every id that may name our message (our
    ``Message-ID`` with or without brackets, the provider's own id); ``bounce_kind`` is
    ``hard`` or ``soft`` for ``bounced``; ``status`` an enhanced status code (5.1.1)."""

    provider: str
    event_id: str
    kind: str
    occurred_at: datetime
    message_ids: tuple[str, ...] = ()
    address: str | None = None
    bounce_kind: str | None = None
    status: str | None = None
    detail: str | None = None
    payload: str = ""
    notification_id: int | None = None  # known already (VERP), no look-up needed


def bounce_kind_of(status: str | None, *, default: str = "hard") -> str:
    """RFC 3463: class 5 is permanent (hard), class 4 persistent transient (soft)."""
    if status and status.strip()[:1] == "4":
        return "soft"
    if status and status.strip()[:1] == "5":
        return "hard"
    return default


def _variants(ids: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for raw in ids:
        value = (raw or "").strip()
        if not value:
            continue
        bare = value.strip("<>")
        out += [value, bare, f"<{bare}>"]
    return sorted(set(out))


def find_notification(session: Session, receipt: Receipt) -> Notification | None:
    if receipt.notification_id is not None:
        return session.get(Notification, receipt.notification_id)
    ids = _variants(receipt.message_ids)
    if not ids:
        return None
    return session.exec(select(Notification).where(col(Notification.provider_id).in_(ids))
                        .order_by(col(Notification.id).desc())).first()


def apply_receipt(session: Session, receipt: Receipt, *, now: datetime) -> bool:
    """Store ``receipt`` and apply it; False when this provider event was seen before."""
    n = find_notification(session, receipt)
    created = insert_ignore(session, ReceiptEvent, {
        "provider": receipt.provider, "event_id": receipt.event_id[:255],
        "notification_id": n.id if n else None, "kind": receipt.kind,
        "bounce_kind": receipt.bounce_kind, "status": receipt.status,
        "address": (receipt.address or "")[:320] or None,
        "message_id": (receipt.message_ids[0] if receipt.message_ids else None),
        "detail": receipt.detail, "occurred_at": receipt.occurred_at, "received_at": now,
        "payload": receipt.payload}, keys=["provider", "event_id"])
    if not created:
        return False
    if n is None:
        log.info("%s %s for a message that is not ours (%s)", receipt.provider, receipt.kind,
                 ", ".join(receipt.message_ids))
    address = (n.recipient if n is not None and n.channel == "email" else None) \
        or receipt.address
    at = receipt.occurred_at
    if n is not None:
        _outcome(n, receipt, at)
        session.add(n)
    if address and receipt.kind == "bounced" and receipt.bounce_kind == "hard":
        outbox.suppress(session, channel="email", address=address, now=now,
                        reason=f"hard bounce ({receipt.provider}"
                               + (f" {receipt.status}" if receipt.status else "") + ")")
    elif address and receipt.kind in ("complained", "unsubscribed"):
        why = "spam complaint" if receipt.kind == "complained" else "unsubscribed at provider"
        outbox.suppress(session, channel="email", address=address, now=now,
                        purpose="marketing", reason=f"{why} ({receipt.provider})")
    return True


def _outcome(n: Notification, receipt: Receipt, at: datetime) -> None:
    kind = receipt.kind
    if kind == "delivered":
        n.delivered_at = n.delivered_at or at
        if n.status == "sent":
            n.status = "delivered"
    elif kind == "deferred":
        n.deferred_at = n.deferred_at or at
    elif kind == "bounced":
        if n.bounce_kind != "hard":
            n.bounced_at, n.bounce_kind = at, receipt.bounce_kind or "hard"
        if receipt.bounce_kind == "hard":
            n.status = "undelivered"
            n.reason = f"hard bounce reported by {receipt.provider}" + (
                f": {receipt.status}" if receipt.status else "") + (
                f" {receipt.detail}" if receipt.detail else "")
    elif kind == "complained":
        n.complained_at = n.complained_at or at
    elif kind == "unsubscribed":
        n.unsubscribed_at = n.unsubscribed_at or at
    elif kind == "opened":
        n.opened_at = n.opened_at or at


def record(factory: sessionmaker[Session], receipts: list[Receipt], *, now: datetime) -> int:
    """Apply ``receipts`` in one transaction; how many were new."""
    with transaction(factory) as session:
        return sum(apply_receipt(session, r, now=now) for r in receipts)
