"""How the engine is doing right now: database, outbox lag, failures, connectors, webhooks.

The console's health page and dashboard alerts read :func:`health_report`; every figure
comes from an indexed query (due outbox rows by ``(status, due_at)``, recent webhooks by
``received_at``, recent failures by ``detected_at``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from notifier.config import Settings
from notifier.connectors.state import connector_health
from notifier.store.tables import InboundEvent, Lock, Notification

REJECTIONS_SHOWN = 20


@dataclass
class HealthReport:
    database: str
    outbox_due: int
    oldest_due_at: datetime | None
    lag_s: float
    failures_last_hour: int
    failures_previous_hour: int
    failures_last_day: int
    failures_previous_day: int
    leases: list[Lock]
    connectors: list[dict[str, Any]]
    webhooks: dict[str, dict[str, int]] = field(default_factory=dict)
    rejections: list[InboundEvent] = field(default_factory=list)

    @property
    def failures_rising(self) -> bool:
        return self.failures_last_day > max(2 * self.failures_previous_day, 5)


def _failed_between(session: Session, start: datetime, end: datetime) -> int:
    return session.execute(select(sa.func.count()).select_from(Notification).where(
        col(Notification.detected_at) >= start, col(Notification.detected_at) < end,
        col(Notification.status) == "failed")).scalar_one()


def health_report(session: Session, settings: Settings, *, now: datetime) -> HealthReport:
    try:
        session.execute(sa.text("SELECT 1"))
        database = f"ok ({session.get_bind().dialect.name})"
    except sa.exc.SQLAlchemyError as exc:
        database = f"unreachable: {type(exc).__name__}"
    due = session.execute(
        select(sa.func.count(), sa.func.min(Notification.due_at)).where(
            col(Notification.status) == "pending", col(Notification.due_at) <= now)).one()
    oldest = due[1]
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    hour, day = timedelta(hours=1), timedelta(days=1)
    connectors = ([connector_health(session, name="baselinker", enabled=True)]
                  if settings.baselinker.enabled else [])
    webhooks: dict[str, dict[str, int]] = {}
    for source, outcome, n in session.execute(
            select(InboundEvent.source, InboundEvent.outcome, sa.func.count())
            .where(col(InboundEvent.received_at) >= now - day)
            .group_by(InboundEvent.source, InboundEvent.outcome)).all():
        webhooks.setdefault(source, {})[outcome] = n
    rejections = list(session.exec(
        select(InboundEvent).where(col(InboundEvent.received_at) >= now - 7 * day,
                                   col(InboundEvent.outcome) == "rejected")
        .order_by(col(InboundEvent.received_at).desc()).limit(REJECTIONS_SHOWN)).all())
    return HealthReport(
        database=database, outbox_due=due[0], oldest_due_at=oldest,
        lag_s=(now - oldest).total_seconds() if oldest else 0.0,
        failures_last_hour=_failed_between(session, now - hour, now),
        failures_previous_hour=_failed_between(session, now - 2 * hour, now - hour),
        failures_last_day=_failed_between(session, now - day, now),
        failures_previous_day=_failed_between(session, now - 2 * day, now - day),
        leases=list(session.exec(select(Lock).order_by(col(Lock.name))).all()),
        connectors=connectors, webhooks=webhooks, rejections=rejections)
