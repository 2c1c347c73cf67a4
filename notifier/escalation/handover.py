"""Handing an escalation over: record it once, queue the helpdesk webhook, make the email.

Runs inside the caller's transaction. The ``escalations`` row is unique per notification,
so asking twice (a retried dispatch) hands over once: the second call gets
``created=False`` and no email. The webhook (event ``escalation.created``, data
:meth:`~notifier.escalation.case.Escalation.to_payload`) goes through the durable,
signed outbound queue; the email is returned for the caller to give the email channel.

    handover = enqueue_escalation(session, escalation, settings, now)
    if handover.email is not None:
        await email_channel.send(Outgoing(f"escalation:{n.id}", handover.email))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from notifier.config import Settings
from notifier.domain import EmailMessage
from notifier.escalation.case import Escalation
from notifier.escalation.email import support_email
from notifier.offers import outbound
from notifier.offers.sql import insert_ignore
from notifier.store.offer_tables import EscalationRecord

EVENT = "escalation.created"


@dataclass(frozen=True)
class Handover:
    """What :func:`enqueue_escalation` did."""

    record_id: int
    created: bool
    delivery_id: int | None = None
    email: EmailMessage | None = None


def enqueue_escalation(session: Session, escalation: Escalation, settings: Settings,
                       now: datetime) -> Handover:
    """Record ``escalation`` and queue its webhook; the support email when configured."""
    config = settings.escalation
    to = (config.email_to or settings.shop.support_email) if config.email else ""
    created = insert_ignore(session, EscalationRecord, {
        "notification_id": escalation.notification_id,
        "customer_id": escalation.customer.id if escalation.customer else None,
        "order_id": escalation.order.id if escalation.order else None,
        "rule": escalation.rule, "step": escalation.step, "reason": escalation.reason,
        "created_at": now, "email_to": to or None,
    }, keys=["notification_id"])
    record = session.exec(select(EscalationRecord).where(
        EscalationRecord.notification_id == escalation.notification_id)).one()
    if not created:
        return Handover(record.id or 0, False, record.delivery_id)
    if config.webhook.url:
        record.delivery_id = outbound.enqueue(
            session, target=outbound.ESCALATION, event=EVENT, data=escalation.to_payload(),
            now=now, dedupe_key=f"{EVENT}:{escalation.notification_id}")
        session.add(record)
    email = (support_email(escalation, to=to, from_addr=settings.email.from_,
                           timezone=settings.shop.timezone) if to else None)
    return Handover(record.id or 0, True, record.delivery_id, email)
