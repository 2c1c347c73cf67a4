"""The one place a period's customer messages are counted (#14, #15).

The reports, ``GET /v1/reports/daily`` and the console's dashboard and rules pages read
these functions, never the notifications on their own. A period is split into the whole
shop-local days the roll-up covers (summed from ``report_days`` / ``report_firsts``) and
the rest (a partial first or last day, the open days), grouped live from the
notifications by the same select (:func:`notifier.reports.rollup.raw_groups`); the
change log is applied before reading, so the answer equals a direct aggregation.

- :func:`groups`: counts per rule, step, arm, status, channel, skip reason and currency
  (and local day, for charts);
- :func:`customers`: customers assigned per arm (distinct, see ``report_firsts``);
- :func:`buyers`: per arm, each converted customer's revenue (the bootstrap's input),
  read from the partial index of converted rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from notifier.reports import rollup
from notifier.reports.days import Pieces, day_start, days_between, local_day, split

N, RD, RF = rollup.N, rollup.RD, rollup.RF
CONVERTED_ROWS = sa.text("notifications.converted_at IS NOT NULL")  # the partial index's
_KEYS = len(rollup.GROUP_KEYS)  # a row read: the key, then the counts, revenue last
_REVENUE = _KEYS + len(rollup.COUNTS) - 1


@dataclass(frozen=True)
class Group:
    """Customer messages of one key (NULLs as None), optionally of one local day."""

    day: date | None
    rule: str
    step: int
    arm: str | None
    status: str
    channel: str | None
    reason: str | None  # skipped rows only
    currency: str | None
    rows: int
    sent: int
    delivered: int
    bounced: int
    complained: int
    unsubscribed: int
    opened: int
    clicked: int
    converted: int
    revenue: Decimal  # conversion revenue in ``currency``


def pieces(session: Session, *, start: datetime, end: datetime, timezone: str) -> Pieces:
    """Apply the pending change log, then split the period around the rolled-up days."""
    rollup.apply_changes(rollup.factory_of(session), timezone=timezone)
    state = rollup.state(session, timezone)
    return split(start, end, ZoneInfo(timezone), state.rolled_until if state else None)


def groups(session: Session, *, start: datetime, end: datetime, timezone: str,
           rule: str | None = None, by_day: bool = False,
           split_: Pieces | None = None) -> list[Group]:
    """Every count of ``[start, end)``, merged from the roll-up and the live pieces."""
    zone = ZoneInfo(timezone)
    parts = split_ or pieces(session, start=start, end=end, timezone=timezone)
    merged: dict[tuple[Any, ...], list[Any]] = {}

    def add(rows: Iterable[Any], day: date | None = None, *, dated: bool = False) -> None:
        for row in rows:
            values = tuple(row)
            if dated:
                day, values = values[0], values[1:]
            key = (day, *values[:_KEYS])
            money = values[_REVENUE]
            numbers = [int(x or 0) for x in values[_KEYS:_REVENUE]] + [
                money if isinstance(money, Decimal) else Decimal(str(money or 0))]
            if key in merged:
                merged[key] = [a + b for a, b in zip(merged[key], numbers, strict=True)]
            else:
                merged[key] = numbers

    if parts.rolled is not None:
        first, end_day = parts.rolled
        keys = [RD.c[k] for k in rollup.GROUP_KEYS]
        sums = [sa.func.sum(RD.c[c]) for c in rollup.COUNTS]
        where = [RD.c.day >= first, RD.c.day < end_day]
        if rule is not None:
            where.append(RD.c.rule == rule)
        if by_day:  # a day's rows are already one per key: read them as they are
            stmt = sa.select(RD.c.day, *keys, *(RD.c[c] for c in rollup.COUNTS)).where(*where)
        else:
            stmt = sa.select(*keys, *sums).where(*where).group_by(*keys)
        add(session.execute(stmt), dated=by_day)
    for lo, hi in parts.live:
        if by_day:
            for day, a, b in _local_days(lo, hi, zone):
                add(session.execute(rollup.raw_groups(a, b, rule=rule)), day)
        else:
            add(session.execute(rollup.raw_groups(lo, hi, rule=rule)))
    out = []
    for (day, rule_, step, arm, status, channel, reason, currency), v in merged.items():
        out.append(Group(_day(day), rule_, int(step), arm or None, status, channel or None,
                         reason or None, currency or None, *v))
    return out


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _local_days(lo: datetime, hi: datetime, zone: ZoneInfo
                ) -> list[tuple[date, datetime, datetime]]:
    first = local_day(lo, zone)
    last = local_day(hi - timedelta(microseconds=1), zone)
    out = []
    for day in days_between(first, last + timedelta(days=1)):
        a = max(lo, day_start(day, zone))
        b = min(hi, day_start(day + timedelta(days=1), zone))
        if a < b:
            out.append((day, a, b))
    return out


def rules_with_rows(session: Session, *, start: datetime, end: datetime, timezone: str,
                    split_: Pieces | None = None) -> list[str]:
    """Rules with customer messages in the period (a rule no longer loaded has history)."""
    parts = split_ or pieces(session, start=start, end=end, timezone=timezone)
    names: set[str] = set()
    if parts.rolled is not None:
        names |= {r for (r,) in session.execute(
            sa.select(RD.c.rule).distinct().where(RD.c.day >= parts.rolled[0],
                                                  RD.c.day < parts.rolled[1]))}
    for lo, hi in parts.live:
        names |= {r for (r,) in session.execute(
            sa.select(N.c.rule).distinct().where(N.c.kind == "message",
                                                 N.c.detected_at >= lo, N.c.detected_at < hi))}
    return sorted(names)


def _neighbour(earlier: bool) -> sa.ColumnElement[Any]:
    """The detected_at of the customer's previous (or next) row in the same rule and arm,
    ordered by (detected_at, id); customerless rows by their entity."""
    p = N.alias("p")
    if earlier:
        order = sa.or_(p.c.detected_at < N.c.detected_at,
                       sa.and_(p.c.detected_at == N.c.detected_at, p.c.id < N.c.id))
        pick = sa.func.max(p.c.detected_at)
    else:
        order = sa.or_(p.c.detected_at > N.c.detected_at,
                       sa.and_(p.c.detected_at == N.c.detected_at, p.c.id > N.c.id))
        pick = sa.func.min(p.c.detected_at)
    same = [p.c.kind == "message", p.c.arm == N.c.arm, order]
    # A customer's rows through the customer index: the rule is compared as an expression
    # (``rule || ''``), or SQLite walks the rule's whole history for every row.
    by_customer = sa.select(pick).where(p.c.customer_id == N.c.customer_id,
                                        (p.c.rule + "") == N.c.rule, *same)
    by_entity = sa.select(pick).where(p.c.customer_id.is_(None), p.c.rule == N.c.rule,
                                      p.c.entity_id == N.c.entity_id, *same)
    return sa.case((N.c.customer_id.is_not(None), by_customer.scalar_subquery()),
                   else_=by_entity.scalar_subquery())


def _assigned(rule: str, lo: datetime, hi: datetime) -> list[sa.ColumnElement[bool]]:
    return [N.c.rule == rule, N.c.kind == "message", N.c.arm.is_not(None),
            N.c.detected_at >= lo, N.c.detected_at < hi]


def customers(session: Session, *, rule: str, start: datetime, end: datetime, timezone: str,
              split_: Pieces | None = None) -> dict[str, int]:
    """Customers assigned to each arm in ``[start, end)``: the rows of the period whose
    previous row (same customer, rule and arm) is before ``start``, or none — exact."""
    parts = split_ or pieces(session, start=start, end=end, timezone=timezone)
    zone = ZoneInfo(timezone)
    out: dict[str, int] = {}

    def add(rows: Iterable[Any], sign: int = 1) -> None:
        for arm, n in rows:
            out[arm] = out.get(arm, 0) + sign * int(n or 0)

    if parts.rolled is not None:
        first, end_day = parts.rolled
        in_days = [RF.c.rule == rule, RF.c.day >= first, RF.c.day < end_day]
        aligned = day_start(first, zone) == start
        before = first if aligned else first - timedelta(days=1)
        stmt = (sa.select(RF.c.arm, sa.func.sum(RF.c.subjects))
                .where(*in_days, sa.or_(RF.c.prev_day.is_(None), RF.c.prev_day < before))
                .group_by(RF.c.arm))
        add(session.execute(stmt))
        if not aligned:
            # Previous row on the partial first day: new only if it is before ``start``;
            # those after ``start`` are the rows there whose next row is in the days.
            stmt = (sa.select(RF.c.arm, sa.func.sum(RF.c.subjects))
                    .where(*in_days, RF.c.prev_day == before).group_by(RF.c.arm))
            add(session.execute(stmt))
            lo, hi = day_start(first, zone), day_start(end_day, zone)
            stmt = sa.select(N.c.arm, _neighbour(earlier=False)).where(
                *_assigned(rule, start, lo))  # each row's next row, looked up once
            add(((arm, 1) for arm, later in session.execute(stmt)
                 if later is not None and lo <= _utc(later) < hi), -1)
    previous = _neighbour(earlier=True)
    subject = sa.case((N.c.customer_id.is_not(None), N.c.customer_id), else_=-N.c.entity_id)
    for lo, hi in parts.live:
        if lo == start:  # the piece the period starts with: its new rows are its customers
            stmt = (sa.select(N.c.arm, sa.func.count(sa.distinct(subject)))
                    .where(*_assigned(rule, lo, hi)).group_by(N.c.arm))
            add(session.execute(stmt))
        else:
            stmt = sa.select(N.c.arm, previous).where(*_assigned(rule, lo, hi))
            add((arm, 1) for arm, before in session.execute(stmt)
                if before is None or _utc(before) < start)
    return {arm: n for arm, n in out.items() if n}


def first_assignment(session: Session, *, rule: str, timezone: str) -> datetime | None:
    """The rule's first row with an arm: its day from ``report_firsts``, the moment from
    that day's rows (a rule whose rows have no arm would otherwise be read whole)."""
    zone = ZoneInfo(timezone)
    state = rollup.state(session, timezone)
    lo: datetime | None = None
    hi: datetime | None = None
    if state is not None and state.rolled_until is not None:
        day = session.execute(sa.select(sa.func.min(RF.c.day))
                              .where(RF.c.rule == rule)).scalar()
        if day is not None:
            day = _day(day)
            assert day is not None
            lo, hi = day_start(day, zone), day_start(day + timedelta(days=1), zone)
        else:  # none on the rolled days: only the live ones can have it
            lo = day_start(state.rolled_until, zone)
    where = [N.c.rule == rule, N.c.kind == "message", N.c.arm.is_not(None)]
    if lo is not None:
        where.append(N.c.detected_at >= lo)
    if hi is not None:
        where.append(N.c.detected_at < hi)
    return session.execute(sa.select(sa.func.min(N.c.detected_at)).where(*where)).scalar()


def _utc(moment: datetime) -> datetime:
    """A correlated max/min may come back naive (SQLite) or aware: compare in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Buyers:
    """One arm's converted customers: how many, their revenue, and the non-zero revenues
    per customer as a histogram (``totals`` ascending, ``customers`` with each)."""

    converted: int
    revenue: float
    totals: tuple[float, ...] = ()
    customers: tuple[int, ...] = ()

    @property
    def values(self) -> list[float]:
        """Every buyer's non-zero revenue, ascending (the histogram spelled out)."""
        return [t for t, n in zip(self.totals, self.customers, strict=True) for _ in range(n)]


def buyers(session: Session, *, rule: str, start: datetime, end: datetime,
           revenue: sa.ColumnElement[Any]) -> dict[str, Buyers]:
    """Per arm, the revenue of each customer who converted in the period (from the partial
    index ``ix_notifications_converted_rows``: only converted rows are read), counted per
    distinct total in the database: a month of a busy rule is tens of thousands of buyers
    but a few hundred distinct totals, and the bootstrap needs no more than that."""
    subject = sa.case((N.c.customer_id.is_not(None), N.c.customer_id), else_=-N.c.entity_id)
    per_customer = (sa.select(N.c.arm, sa.func.sum(revenue).label("total"))
                    .where(CONVERTED_ROWS, *_assigned(rule, start, end))
                    .group_by(N.c.arm, subject).subquery())
    stmt = (sa.select(per_customer.c.arm, per_customer.c.total, sa.func.count())
            .group_by(per_customer.c.arm, per_customer.c.total))
    per_arm: dict[str, list[tuple[Any, int]]] = {}
    for arm, total, n in session.execute(stmt):
        per_arm.setdefault(arm, []).append((total, int(n)))
    out = {}
    for arm, rows in per_arm.items():
        paid = sorted((float(t), n) for t, n in rows if t)
        out[arm] = Buyers(sum(n for _, n in rows),
                          float(sum((t * n for t, n in rows if t is not None), Decimal(0))),
                          tuple(t for t, _ in paid), tuple(n for _, n in paid))
    return out
