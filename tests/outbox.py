"""Driving the one outbox in tests: a dispatch pass of the real engine at a chosen ``now``,
and the rows of a kind."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlmodel import col, select

from notifier.clock import FrozenClock
from notifier.config import Settings
from notifier.pipeline import build_engine
from notifier.runtime import create_runtime
from notifier.store.tables import DeliveryAttempt, Notification


async def deliver(settings: Settings, now: datetime) -> Counter[str]:
    """Dispatch everything due at ``now`` (webhooks, support emails, shop calls too)."""
    runtime = create_runtime(settings, clock=FrozenClock(now))
    engine = build_engine(runtime)
    try:
        return await engine.dispatch(now)
    finally:
        await engine.aclose()
        runtime.close()


def rows(settings: Settings, kind: str) -> list[Notification]:
    runtime = create_runtime(settings)
    try:
        with runtime.sessions() as session:
            stmt = (select(Notification).where(Notification.kind == kind)
                    .order_by(col(Notification.id)))
            return list(session.exec(stmt).all())
    finally:
        runtime.close()


def attempts(settings: Settings, notification_id: int) -> list[DeliveryAttempt]:
    runtime = create_runtime(settings)
    try:
        with runtime.sessions() as session:
            stmt = (select(DeliveryAttempt)
                    .where(DeliveryAttempt.notification_id == notification_id)
                    .order_by(col(DeliveryAttempt.id)))
            return list(session.exec(stmt).all())
    finally:
        runtime.close()


async def run_due(settings: Settings, now: datetime) -> Counter[str]:
    """One detection-and-dispatch pass of the real engine as of ``now``."""
    runtime = create_runtime(settings, clock=FrozenClock(now))
    engine = build_engine(runtime)
    try:
        return (await engine.run_due(now)).dispatched
    finally:
        await engine.aclose()
        runtime.close()


async def drain(settings: Settings, kinds: tuple[str, ...], *, start: datetime,
                passes: int = 10) -> None:
    """Dispatch at each next due time of the pending rows of ``kinds`` until none is left."""
    for _ in range(passes):
        pending = [r for kind in kinds for r in rows(settings, kind) if r.status == "pending"]
        if not pending:
            return
        await deliver(settings, max(start, min(r.due_at for r in pending)))
