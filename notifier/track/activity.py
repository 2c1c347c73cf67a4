"""What the engine did in a period: messages per day, per-rule funnels, the delivery list.

The console's dashboard, rules and deliveries pages and the CLI read these; they run on
``ix_notifications_detected`` (detected_at, rule, status, channel) so a period is counted
from the index alone, and the delivery list pages by id (keyset), never by OFFSET.

    period = Period.choose("7d", now=now, tz=ZoneInfo("Europe/Warsaw"))
    daily_counts(session, period=period)      # [DayCount(day, channel, status, count), ...]
    funnels(session, period=period)           # {rule: Funnel}
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from notifier.store.tables import Notification

PERIODS = ("today", "7d", "30d", "custom")
# The predicates of the partial indexes ix_notifications_skipped and _outcomes, written as
# literals: SQLite uses a partial index only when the query repeats its WHERE verbatim.
SKIPPED_ROWS = sa.text("notifications.status = 'skipped'")
OUTCOME_ROWS = sa.text("(notifications.clicked_at IS NOT NULL OR "
                       "notifications.converted_at IS NOT NULL)")
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


def _epoch_seconds(session: Session) -> sa.ColumnElement[int]:
    column = col(Notification.detected_at)
    if session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.extract("epoch", column), sa.BigInteger)
    return sa.cast(sa.func.strftime("%s", column), sa.Integer)


def _segments(period: Period) -> list[tuple[datetime, datetime, int | None, date]]:
    """Stretches of the period whose days all start and end at one UTC offset (day =
    (epoch + offset) // 86400, exactly), and single days where the offset changes
    (their rows are all that day). Usually one stretch; a DST change adds two."""
    utc = ZoneInfo("UTC")
    out: list[tuple[datetime, datetime, int | None, date]] = []
    for day in period.days:
        start = datetime.combine(day, time(), period.tz)
        end = datetime.combine(day + timedelta(days=1), time(), period.tz)
        offset = start.utcoffset()
        steady = offset == end.utcoffset()
        seconds = int(offset.total_seconds()) if steady and offset is not None else None
        lo, hi = start.astimezone(utc), end.astimezone(utc)
        if out and seconds is not None and out[-1][2] == seconds and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi, seconds, out[-1][3])
        else:
            out.append((lo, hi, seconds, day))
    return out


def period_counts(session: Session, *, period: Period) -> list[PeriodCount]:
    """Notifications detected in the period per local day, rule, channel (``-`` before
    one was chosen) and status: one pass over ``ix_notifications_detected`` per stretch
    of steady UTC offset, grouped by whole local days in SQL."""
    out: list[PeriodCount] = []
    epoch_day = date(1970, 1, 1)
    for start, end, offset, only_day in _segments(period):
        day_number = (sa.literal(only_day.toordinal() - epoch_day.toordinal())
                      if offset is None else
                      (_epoch_seconds(session) + offset) / 86400).label("day")
        stmt = (select(day_number, Notification.rule, Notification.channel,
                       Notification.status, sa.func.count())
                .where(col(Notification.detected_at) >= start,
                       col(Notification.detected_at) < end, Notification.kind == "message")
                .group_by(day_number, Notification.rule, Notification.channel,
                          Notification.status))
        for n_day, rule, channel, status, n in session.execute(stmt).all():
            out.append(PeriodCount(epoch_day + timedelta(days=int(n_day)), rule,
                                   channel or "-", status, n))
    return out


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
            counts: list[PeriodCount] | None = None) -> dict[str, Funnel]:
    """Every rule's funnel for the period (rules with no notification are absent);
    ``counts`` from :func:`period_counts` when the caller already has them."""
    in_period = (col(Notification.detected_at) >= period.start,
                 col(Notification.detected_at) < period.end, Notification.kind == "message")
    out: dict[str, Funnel] = {}
    for c in counts if counts is not None else period_counts(session, period=period):
        out.setdefault(c.rule, Funnel(c.rule)).statuses[c.status] += c.count
    reasons = (select(Notification.rule, Notification.reason, sa.func.count())
               .where(*in_period, SKIPPED_ROWS)
               .group_by(Notification.rule, Notification.reason))
    for rule, reason, n in session.execute(reasons).all():
        out.setdefault(rule, Funnel(rule)).skipped_by_reason[reason_kind(reason)] += n
    # Held-out rows convert too (measured from due_at): only treated ones count here;
    # the uplift against the holdout is the reports' business.
    outcomes = (select(Notification.rule, sa.func.count(Notification.clicked_at),
                       sa.func.count(Notification.converted_at),
                       sa.func.coalesce(sa.func.sum(Notification.conversion_revenue), 0))
                .where(*in_period, col(Notification.status).in_(SENT_STATUSES),
                       OUTCOME_ROWS)
                .group_by(Notification.rule))
    for rule, clicked, converted, revenue in session.execute(outcomes).all():
        funnel = out.setdefault(rule, Funnel(rule))
        funnel.clicked, funnel.converted, funnel.revenue = clicked, converted, Decimal(revenue)
    return dict(out)


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
