"""Support emails and webhooks share the outbox (and the rule's name) with customer
messages; reports and the console's counts take only customer messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from notifier.reports import daily_counts
from notifier.runtime import Runtime
from notifier.store.db import transaction
from notifier.store.tables import Notification
from notifier.track.activity import Period, period_counts

T = datetime(2026, 11, 2, 10, tzinfo=UTC)


def _row(key: str, kind: str) -> Notification:
    return Notification(key=key, kind=kind, rule="shipment-late", step=0,
                        entity_kind="shipment", entity_id=1, template="t",
                        purpose="transactional" if kind == "message" else "internal",
                        channels=["email"], channel="email", status="sent", due_at=T,
                        detected_at=T, sent_at=T, arm="treated" if kind == "message" else None)


def test_support_emails_and_webhooks_are_not_counted_as_the_rules_messages(
        runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        session.add(_row("m", "message"))
        session.add(_row("s", "support"))
        session.add(_row("w", "webhook"))
    start, end = T - timedelta(days=1), T + timedelta(days=1)
    with runtime.sessions() as session:
        daily = daily_counts(session, start=start, end=end, timezone="UTC")
        console = period_counts(session, period=Period(start, end, ZoneInfo("Europe/Warsaw")))
    assert [(d.rule, d.status, d.count) for d in daily] == [("shipment-late", "sent", 1)]
    assert [(c.rule, c.status, c.count) for c in console] == [("shipment-late", "sent", 1)]
