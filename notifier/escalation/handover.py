"""Handing an escalation over: record it once and queue its email and webhook, together.

Runs inside the caller's transaction — the one that commits the decision — so the
support email and the helpdesk webhook exist exactly when the case does: a worker killed
after the commit leaves them in the outbox for the next worker, and the ``escalations``
row is unique per notification, so asking twice (a retried dispatch) hands over once.
Both are ordinary outbox rows (kinds ``support`` and ``webhook``) with attempts, shown by
``notifier notifications list --kind support`` / ``--kind webhook``.

    handover = enqueue_escalation(session, escalation, settings, now)
    handover.created, handover.email_id, handover.webhook_id
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from notifier.config import Settings
from notifier.domain import EmailMessage, Kind
from notifier.escalation.case import Escalation
from notifier.escalation.email import support_email
from notifier.store import outbox
from notifier.store.escalation_tables import EscalationRecord
from notifier.store.sql import insert_ignore

EVENT = "escalation.created"
EMAIL_EVENT = "escalation.email"


@dataclass(frozen=True)
class Handover:
    """What :func:`enqueue_escalation` did (``created`` False: handed over before)."""

    record_id: int
    created: bool
    email_id: int | None = None
    webhook_id: int | None = None


def email_payload(email: EmailMessage) -> str:
    """A support email as an outbox payload (the dispatcher rebuilds the message)."""
    fields = {f.name: getattr(email, f.name) for f in dataclasses.fields(email) if f.init}
    return json.dumps(fields, ensure_ascii=False)


def email_from_payload(payload: str) -> EmailMessage:
    data = json.loads(payload)
    data["headers"] = tuple(tuple(h) for h in data.get("headers", ()))
    return EmailMessage(**data)


def enqueue_escalation(session: Session, escalation: Escalation, settings: Settings,
                       now: datetime) -> Handover:
    """Record ``escalation`` and queue its webhook and support email, as configured."""
    config = settings.escalation
    to = (config.email_to or settings.shop.support_email) if config.email else ""
    nid = escalation.notification_id
    created = insert_ignore(session, EscalationRecord, {
        "notification_id": nid,
        "customer_id": escalation.customer.id if escalation.customer else None,
        "order_id": escalation.order.id if escalation.order else None,
        "rule": escalation.rule, "step": escalation.step, "reason": escalation.reason,
        "created_at": now, "email_to": to or None,
    }, keys=["notification_id"])
    record = session.exec(select(EscalationRecord).where(
        EscalationRecord.notification_id == nid)).one()
    if not created:
        return Handover(record.id or 0, False)
    webhook_id = email_id = None
    origin = ("notification", nid)
    if config.webhook.url:
        webhook_id = outbox.enqueue_webhook(
            session, target="escalation", event=EVENT, data=escalation.to_payload(),
            now=now, key=f"{EVENT}:{nid}", origin=origin)
    if to:
        email = support_email(escalation, to=to, from_addr=settings.email.from_,
                              timezone=settings.shop.timezone)
        email_id = outbox.enqueue(
            session, kind=Kind.SUPPORT.value, channel="email", key=f"support:{nid}",
            recipient=to, event=EMAIL_EVENT, payload=email_payload(email), now=now,
            origin=origin, rule=escalation.rule)
    return Handover(record.id or 0, True, email_id, webhook_id)
