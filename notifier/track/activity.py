"""What the engine did in a period: messages per day, per-rule funnels, the delivery list.

The console's dashboard, rules and deliveries pages and the CLI read these. Counts come
from :mod:`notifier.reports.counts` (the reports' daily roll-up for closed days, live for
the rest), so the dashboard and the reports count alike; the delivery list pages by id
(keyset), never by OFFSET.

    period = Period.choose("7d", now=now, tz=ZoneInfo("Europe/Warsaw"))
    stored = period_groups(session, period=period)
    daily_counts(session, period=period, counts=period_counts(session, period=period,
                                                              stored=stored))
    funnels(session, period=period, stored=stored)   # {rule: Funnel}
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from notifier.reports.counts import Group, groups
from notifier.store.tables import Notification

PERIODS = ("today", "7d", "30d", "custom")
SENT_STATUSES = ("sent", "delivered", "undelivered")


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in UTC, with the shop-local days it covers."""

    start: datetime
    end: datetime
    tz: ZoneInfo
    choice: str = "7d"

    @classmethod
    def choose(cls, choice: str, *, now: datetime, tz: ZoneInfo, first: date | None = None,
               last: date | None = None) -> Period:
        """``today``, ``7d`` and ``30d`` end at the end of the shop's today; ``custom``
        covers ``first`` to ``last`` inclusive (local days)."""
        today = now.astimezone(tz).date()
        if choice == "custom" and first is not None:
            last = last or today
            first, last = min(first, last), max(first, last)
        else:
            days = {"today": 1, "7d": 7, "30d": 30}.get(choice, 7)
            choice = choice if choice in ("today", "7d", "30d") else "7d"
            first, last = today - timedelta(days=days - 1), today
        start = datetime.combine(first, time(), tz)
        end = datetime.combine(last + timedelta(days=1), time(), tz)
        return cls(start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC")), tz,
                   choice)

    @property
    def days(self) -> list[date]:
        first = self.start.astimezone(self.tz).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(self.tz).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    @property
    def first_day(self) -> date:
        return self.days[0]

    @property
    def last_day(self) -> date:
        return self.days[-1]


@dataclass(frozen=True)
class DayCount:
    day: date
    channel: str
    status: str
    count: int


@dataclass(frozen=True)
class PeriodCount:
    day: date
    rule: str
    channel: str
    status: str
    count: int


def period_groups(session: Session, *, period: Period) -> list[Group]:
    """The period's counts per local day, from the one counting module of the reports
    (the roll-up for closed days, the notifications for the rest)."""
    return groups(session, start=period.start, end=period.end, timezone=period.tz.key,
                  by_day=True)


def period_counts(session: Session, *, period: Period,
                  stored: list[Group] | None = None) -> list[PeriodCount]:
    """Notifications detected in the period per local day, rule, channel (``-`` before
    one was chosen) and status."""
    total: Counter[tuple[date, str, str, str]] = Counter()
    for g in stored if stored is not None else period_groups(session, period=period):
        assert g.day is not None
        total[(g.day, g.rule, g.channel or "-", g.status)] += g.rows
    return [PeriodCount(day, rule, channel, status, n)
            for (day, rule, channel, status), n in sorted(total.items())]


def daily_counts(session: Session, *, period: Period,
                 counts: list[PeriodCount] | None = None) -> list[DayCount]:
    """Notifications detected per local day, by channel and status (all rules)."""
    total: Counter[tuple[date, str, str]] = Counter()
    for c in counts if counts is not None else period_counts(session, period=period):
        total[(c.day, c.channel, c.status)] += c.count
    return [DayCount(day, channel, status, n)
            for (day, channel, status), n in sorted(total.items())]


@dataclass
class Funnel:
    """One rule's notifications in a period, stage by stage."""

    rule: str
    statuses: Counter[str] = field(default_factory=Counter)
    skipped_by_reason: Counter[str] = field(default_factory=Counter)
    clicked: int = 0
    converted: int = 0
    revenue: Decimal = Decimal(0)

    @property
    def eligible(self) -> int:
        return sum(self.statuses.values())

    @property
    def skipped(self) -> int:
        return self.statuses["skipped"]

    @property
    def held_out(self) -> int:
        return self.statuses["held_out"]

    @property
    def sent(self) -> int:
        return sum(self.statuses[s] for s in SENT_STATUSES)

    @property
    def delivered(self) -> int:
        return self.statuses["delivered"]

    @property
    def failed(self) -> int:
        return self.statuses["failed"]

    @property
    def waiting(self) -> int:
        return self.statuses["pending"] + self.statuses["sending"]

    @property
    def dry_run(self) -> int:
        return self.statuses["dry_run"]


_VOLATILE = re.compile(r"\d{4}-\d\d-\d\dT[\d:.+Z-]+|\d+(\.\d+)?")


def reason_kind(reason: str | None) -> str:
    """A skip reason without its moments and numbers, so alike reasons count together:
    "quiet hours until 2026-12-01T21:00:00+00:00" -> "quiet hours until #"."""
    if not reason:
        return "-"
    return _VOLATILE.sub("#", reason)[:120]


def funnels(session: Session, *, period: Period,
            stored: list[Group] | None = None) -> dict[str, Funnel]:
    """Every rule's funnel for the period (rules with no notification are absent);
    ``stored`` from :func:`period_groups` when the caller already has them."""
    out: dict[str, Funnel] = {}
    for g in stored if stored is not None else period_groups(session, period=period):
        funnel = out.setdefault(g.rule, Funnel(g.rule))
        funnel.statuses[g.status] += g.rows
        if g.status == "skipped":
            funnel.skipped_by_reason[reason_kind(g.reason)] += g.rows
        # Held-out rows convert too (measured from due_at): only treated ones count here;
        # the uplift against the holdout is the reports' business.
        if g.status in SENT_STATUSES:
            funnel.clicked += g.clicked
            funnel.converted += g.converted
            funnel.revenue += g.revenue
    return out


@dataclass(frozen=True)
class DeliveryFilter:
    rule: str | None = None
    status: str | None = None
    channel: str | None = None
    customer_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None


def list_deliveries(session: Session, *, where: DeliveryFilter, before_id: int | None = None,
                    limit: int = 50) -> tuple[list[Notification], int | None]:
    """One page of notifications, newest first, and the cursor of the next page (None at
    the end). Pages by ``id < before_id``: as fast on page 1000 as on page 1."""
    stmt = select(Notification).order_by(col(Notification.id).desc()).limit(limit + 1)
    if where.rule:
        stmt = stmt.where(Notification.rule == where.rule)
    if where.status:
        stmt = stmt.where(Notification.status == where.status)
    if where.channel:
        stmt = stmt.where(Notification.channel == where.channel)
    if where.customer_id is not None:
        stmt = stmt.where(Notification.customer_id == where.customer_id)
    if where.start is not None:
        stmt = stmt.where(col(Notification.detected_at) >= where.start)
    if where.end is not None:
        stmt = stmt.where(col(Notification.detected_at) < where.end)
    if before_id is not None:
        stmt = stmt.where(col(Notification.id) < before_id)
    rows = list(session.exec(stmt).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)
