"""What providers and customers tell us after a send: delivery receipts, STOP, unsubscribe."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, select

from notifier.store import consent_log, outbox
from notifier.store.db import transaction
from notifier.store.tables import Consent, Customer, Notification

log = logging.getLogger(__name__)

# Twilio MessageStatus values onto ours; intermediate ones change nothing.
SMS_STATUS = {"delivered": "delivered", "undelivered": "undelivered", "failed": "failed"}


def record_sms_status(factory: sessionmaker[Session], *, sid: str, status: str,
                      error_code: str, now: datetime) -> bool:
    ours = SMS_STATUS.get(status)
    with transaction(factory) as session:
        n = session.exec(select(Notification).where(Notification.provider_id == sid)).first()
        if n is None:
            log.info("twilio status %s for unknown message %s", status, sid)
            return False
        if ours is None:
            return True
        n.status = ours
        if ours == "delivered":
            n.delivered_at = now
            n.reason = None
        else:
            n.reason = f"carrier reported {status}" + (f" (error {error_code})" if error_code
                                                       else "")
            if error_code == "21610" and n.recipient:
                outbox.suppress(session, channel="sms", address=n.recipient, now=now,
                                reason="recipient replied STOP (Twilio 21610)")
        session.add(n)
    return True


def suppress_phone(factory: sessionmaker[Session], *, phone: str, now: datetime) -> None:
    with transaction(factory) as session:
        outbox.suppress(session, channel="sms", address=phone, now=now,
                        reason="recipient replied STOP")


def unsubscribe(factory: sessionmaker[Session], *, customer_id: int, now: datetime) -> None:
    """Marketing consent withdrawn on every channel; transactional messages continue."""
    with transaction(factory) as session:
        if session.get(Customer, customer_id) is None:
            return
        for channel in ("email", "sms", "push"):
            row = session.exec(select(Consent).where(
                Consent.customer_id == customer_id, Consent.channel == channel,
                Consent.purpose == "marketing")).first()
            if row is None or row.granted:
                # The customer's own action: always applied, and kept in the audit trail.
                word = consent_log.Word(channel, "marketing", False, now, "unsubscribe-link")
                consent_log.log_change(session, customer_id=customer_id, word=word,
                                       verdict=consent_log.Verdict(True, True), now=now)
            if row is None:
                row = Consent(customer_id=customer_id, channel=channel, purpose="marketing",
                              granted=False, at=now, source="unsubscribe-link")
            row.granted, row.at, row.source = False, now, "unsubscribe-link"
            session.add(row)
