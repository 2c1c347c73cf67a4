"""Keyword-only queries on the outbox: claim with a lease, record attempts, finish.

Claiming is the only contended step. On PostgreSQL it is ``SELECT ... FOR UPDATE SKIP
LOCKED``: workers never wait for each other and never take the same row. SQLite has one
writer at a time (``BEGIN IMMEDIATE``), which gives the same guarantee on one machine.
A claim is a lease: a worker that dies leaves rows in ``sending`` whose lease runs out,
and the next claim takes them again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_
from sqlmodel import Session, col, func, select

from notifier.store.tables import Consent, DeliveryAttempt, Notification, Suppression


def claim(session: Session, *, now: datetime, owner: str, lease: timedelta,
          limit: int) -> list[Notification]:
    stmt = (
        select(Notification)
        .where(or_(
            and_(col(Notification.status) == "pending", col(Notification.due_at) <= now),
            and_(col(Notification.status) == "sending", col(Notification.lease_until) < now),
        ))
        .order_by(col(Notification.due_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list(session.exec(stmt).all())
    for row in rows:
        row.status = "sending"
        row.lease_until = now + lease
        row.lease_owner = owner
        session.add(row)
    return rows


def begin_attempt(session: Session, *, notification_id: int, number: int, channel: str,
                  now: datetime) -> int:
    attempt = DeliveryAttempt(notification_id=notification_id, number=number, channel=channel,
                              started_at=now, outcome="sending")
    session.add(attempt)
    session.flush()
    return attempt.id or 0


def finish_attempt(session: Session, *, attempt_id: int, outcome: str, now: datetime,
                   provider_id: str | None = None, error: str | None = None,
                   duration_ms: int | None = None) -> None:
    attempt = session.get(DeliveryAttempt, attempt_id)
    if attempt is None:
        return
    attempt.outcome, attempt.finished_at = outcome, now
    attempt.provider_id, attempt.error, attempt.duration_ms = provider_id, error, duration_ms
    session.add(attempt)


def attempts_of(session: Session, *, notification_id: int) -> list[DeliveryAttempt]:
    stmt = (select(DeliveryAttempt).where(DeliveryAttempt.notification_id == notification_id)
            .order_by(col(DeliveryAttempt.number), col(DeliveryAttempt.id)))
    return list(session.exec(stmt).all())


def consents_of(session: Session, *, customer_id: int) -> dict[tuple[str, str], bool]:
    rows = session.exec(select(Consent).where(Consent.customer_id == customer_id)).all()
    return {(r.channel, r.purpose): r.granted for r in rows}


def suppressed(session: Session, *, channel: str, address: str, purpose: str) -> str | None:
    """The reason ``address`` must not get ``purpose`` messages on ``channel``, if any."""
    stmt = select(Suppression).where(
        Suppression.channel == channel, Suppression.address == address,
        col(Suppression.purpose).in_(["", purpose]),
    )
    row = session.exec(stmt).first()
    return row.reason if row else None


def suppress(session: Session, *, channel: str, address: str, reason: str, now: datetime,
             purpose: str = "") -> None:
    existing = session.exec(select(Suppression).where(
        Suppression.channel == channel, Suppression.address == address,
        Suppression.purpose == purpose)).first()
    if existing is None:
        session.add(Suppression(channel=channel, address=address, purpose=purpose,
                                reason=reason, at=now))


def sent_times(session: Session, *, customer_id: int, purpose: str,
               since: datetime) -> list[datetime]:
    stmt = select(Notification.sent_at).where(
        Notification.customer_id == customer_id, Notification.purpose == purpose,
        col(Notification.sent_at) > since,
    )
    return [t for t in session.exec(stmt).all() if t is not None]


def count_by_status(session: Session) -> dict[str, int]:
    stmt = select(Notification.status, func.count()).group_by(Notification.status)
    return {status: n for status, n in session.exec(stmt).all()}
