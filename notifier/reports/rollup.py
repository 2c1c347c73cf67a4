"""Keeps the daily roll-up (``report_days``, ``report_firsts``) equal to the notifications.

    refresh(sessions, timezone="Europe/Warsaw", now=now)   # the track job, every run

1. The change log the triggers wrote (a counted column of a notification on a rolled-up
   day changed: a late conversion, a click, a receipt) is applied: those days are
   computed again from the notifications, and for a row inserted, deleted or moved to
   another customer or arm, also the day of that customer's next row (its previous row
   changed). Readers apply it too before they read (:func:`apply_changes`), so an answer
   is never older than the notifications.
2. The days closed since the last run (before the shop's today) are rolled up. The
   triggers' bound (``logged_until``) is moved first and committed, and on PostgreSQL the
   writers that began before it are waited for (``LOCK TABLE ... SHARE`` in a transaction
   of its own): no change to a day can fall between being read and being logged. The
   days are computed in a read-only session and written in one short transaction, so a
   long history does not hold SQLite's one writer for the minute it takes.

A day is computed as a whole: delete its rows, insert them again from one grouped pass
over the day's notifications. A change of ``[shop] timezone`` starts the roll-up over.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from notifier.reports.days import day_start, days_between, local_day
from notifier.store.db import transaction
from notifier.store.report_tables import ReportChange, ReportDay, ReportFirst, ReportRollupState
from notifier.store.tables import Notification
from notifier.store.types import UTCDateTime

N: sa.Table = Notification.__table__  # type: ignore[attr-defined]
RD: sa.Table = ReportDay.__table__  # type: ignore[attr-defined]
RF: sa.Table = ReportFirst.__table__  # type: ignore[attr-defined]
RC: sa.Table = ReportChange.__table__  # type: ignore[attr-defined]
RS: sa.Table = ReportRollupState.__table__  # type: ignore[attr-defined]
LOCK_KEY = 7_140_014  # pg_advisory_xact_lock: one refresh at a time
COUNTED = ("sent_at", "delivered_at", "bounced_at", "complained_at", "unsubscribed_at",
           "opened_at", "clicked_at", "converted_at")
GROUP_KEYS = ("rule", "step", "arm", "status", "channel", "reason", "currency")
#: A roll-up row's counts, in the order :func:`count_columns` computes them: all rows, one
#: per ``COUNTED`` column (its name without ``_at``), the conversion revenue.
COUNTS = ("rows", *(c.removesuffix("_at") for c in COUNTED), "revenue")


def group_columns() -> list[sa.ColumnElement[Any]]:
    """The key of a roll-up row, computed from a notification (empty string for NULL)."""
    return [N.c.rule, N.c.step, sa.func.coalesce(N.c.arm, ""), N.c.status,
            sa.func.coalesce(N.c.channel, ""),
            sa.case((N.c.status == "skipped", sa.func.coalesce(N.c.reason, "")), else_=""),
            sa.func.coalesce(N.c.conversion_currency, "")]


def count_columns() -> list[sa.ColumnElement[Any]]:
    return [sa.func.count(), *(sa.func.count(N.c[c]) for c in COUNTED),
            sa.func.coalesce(sa.func.sum(N.c.conversion_revenue), 0)]


def raw_groups(lo: datetime, hi: datetime, *, rule: str | None = None,
               day: sa.ColumnElement[Any] | None = None) -> sa.Select[Any]:
    """Customer messages detected in ``[lo, hi)`` grouped by the roll-up's key (and
    ``day`` first, when given): the one pass both the roll-up and a live read make."""
    keys = group_columns() if day is None else [day, *group_columns()]
    where = [N.c.kind == "message", N.c.detected_at >= lo, N.c.detected_at < hi]
    if rule is not None:
        where.append(N.c.rule == rule)
    return sa.select(*keys, *count_columns()).where(*where).group_by(*keys)


def factory_of(session: Session) -> sessionmaker[Session]:
    """A session factory on the same engine (and SQLite write lock) as ``session``."""
    return sessionmaker(session.get_bind(), class_=Session, expire_on_commit=False,
                        info=session.info)


def state(session: Session, timezone: str) -> ReportRollupState | None:
    """The roll-up's state, or None when it is in another zone (or was never run)."""
    found = session.get(ReportRollupState, 1)
    return found if found is not None and found.timezone == timezone else None


def refresh(sessions: sessionmaker[Session], *, timezone: str, now: datetime) -> Counter[str]:
    """Apply the change log, then roll up the days closed since last time."""
    zone = ZoneInfo(timezone)
    done = apply_changes(sessions, timezone=timezone)
    today = local_day(now, zone)
    with transaction(sessions) as session:
        current = _state(session, timezone)
        if current.rolled_until is not None and current.rolled_until >= today:
            return done
        bound = day_start(today, zone)
        moved = current.logged_until is None or current.logged_until < bound
        if moved:
            current.logged_until = bound
            session.add(current)
    if moved and not _barrier(sessions):
        return done  # a writer held on: the next run rolls these days up
    # Computed in a read-only session (SQLite's writers are not held for the minute a long
    # history takes), written in a short transaction. A change meanwhile is in the log.
    with sessions() as reader:
        found = state(reader, timezone)
        start_from = found.rolled_until if found else None
        first = start_from or _first_day(reader, zone)
        days = days_between(first, today) if first is not None and first < today else []
        day_rows = _day_rows(reader, zone, days, rules=None)
        first_rows = {rule: _first_rows(reader, zone, rule, days) for rule in
                      (_rules_between(reader, day_start(days[0], zone),
                                      day_start(today, zone)) if days else [])}
    with transaction(sessions) as session:
        current = _state(session, timezone)
        if current.rolled_until != start_from:
            return done  # another refresh rolled them meanwhile
        _write_days(session, days, None, day_rows)
        for rule, rows in first_rows.items():
            _write_firsts(session, rule, days, rows)
        done["days_rolled"] += len(days)
        current.rolled_until = today
        session.add(current)
    return +done


def apply_changes(sessions: sessionmaker[Session], *, timezone: str) -> Counter[str]:
    """Compute again the rolled-up days the change log names, and empty it of them."""
    done: Counter[str] = Counter()
    with sessions() as peek:
        if peek.execute(sa.select(RC.c.id).limit(1)).first() is None:
            return done
    zone = ZoneInfo(timezone)
    with transaction(sessions) as session:
        current = _state(session, timezone)
        if current.rolled_until is None:
            return done
        changes = session.execute(sa.select(RC)).all()
        days: dict[date, set[str]] = defaultdict(set)
        firsts: dict[str, set[date]] = defaultdict(set)
        consumed = []
        for change in changes:
            day = local_day(change.detected_at, zone)
            if day >= current.rolled_until:
                continue  # an open day: rolled up when it closes
            consumed.append(change.id)
            days[day].add(change.rule)
            if change.moved:
                firsts[change.rule].add(day)
                for later in _next_rows(session, change):
                    if (next_day := local_day(later, zone)) < current.rolled_until:
                        firsts[change.rule].add(next_day)
        for day, rules in sorted(days.items()):
            _compute_days(session, zone, [day], rules=rules)
        for rule, rule_days in firsts.items():
            _compute_firsts(session, zone, rule, sorted(rule_days))
        for i in range(0, len(consumed), 500):
            session.execute(sa.delete(RC).where(RC.c.id.in_(consumed[i:i + 500])))
        done["days_recomputed"] += sum(len(r) for r in days.values())
        done["changes_applied"] += len(consumed)
    return done


def _state(session: Session, timezone: str) -> ReportRollupState:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY)))
    found = session.get(ReportRollupState, 1)
    if found is None:
        found = ReportRollupState(id=1, timezone=timezone)
        session.add(found)
        session.flush()
    elif found.timezone != timezone:  # days of another zone: start over
        for table in (RD, RF, RC):
            session.execute(sa.delete(table))
        found.timezone, found.rolled_until, found.logged_until = timezone, None, None
        session.add(found)
        session.flush()
    return found


def _barrier(sessions: sessionmaker[Session]) -> bool:
    """PostgreSQL: wait until every transaction that may have written a notification
    before the new ``logged_until`` was visible has ended (SQLite has one writer)."""
    with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            return True
        try:
            with session.begin():
                session.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
                session.execute(sa.text("LOCK TABLE notifications IN SHARE MODE"))
        except sa.exc.OperationalError:
            return False
    return True


def _first_day(session: Session, zone: ZoneInfo) -> date | None:
    first = session.execute(sa.select(sa.func.min(N.c.detected_at))
                            .where(N.c.kind == "message")).scalar()
    return None if first is None else local_day(_aware(first), zone)


def _rules_between(session: Session, lo: datetime, hi: datetime) -> list[str]:
    stmt = (sa.select(N.c.rule).distinct()
            .where(N.c.kind == "message", N.c.detected_at >= lo, N.c.detected_at < hi))
    return sorted(r for (r,) in session.execute(stmt))


def _compute_days(session: Session, zone: ZoneInfo, days: Iterable[date], *,
                  rules: set[str] | None) -> None:
    days = list(days)
    _write_days(session, days, rules, _day_rows(session, zone, days, rules=rules))


def _day_rows(session: Session, zone: ZoneInfo, days: Iterable[date], *,
              rules: set[str] | None) -> list[dict[str, Any]]:
    """The roll-up rows of these days (of ``rules``, or all), from one grouped pass over
    each day's notifications."""
    names = ["day", *GROUP_KEYS, *COUNTS]
    out = []
    for day in days:
        lo, hi = day_start(day, zone), day_start(day + timedelta(days=1), zone)
        for rule in sorted(rules) if rules else [None]:
            for row in session.execute(raw_groups(lo, hi, rule=rule)):
                out.append(dict(zip(names, (day, *row), strict=True)))
    return out


def _write_days(session: Session, days: list[date], rules: set[str] | None,
                rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(days), 200):
        where = [RD.c.day.in_(days[i:i + 200])]
        if rules:
            where.append(RD.c.rule.in_(sorted(rules)))
        session.execute(sa.delete(RD).where(*where))
    for i in range(0, len(rows), 5000):
        session.execute(sa.insert(RD), rows[i:i + 5000])


def _compute_firsts(session: Session, zone: ZoneInfo, rule: str, days: list[date]) -> None:
    _write_firsts(session, rule, days, _first_rows(session, zone, rule, days))


def _first_rows(session: Session, zone: ZoneInfo, rule: str, days: list[date]
                ) -> list[dict[str, Any]]:
    """Each (arm, customer) row on these days with the local day of the customer's
    previous row in the rule and arm, counted per (arm, day, previous day)."""
    if not days:
        return []
    wanted = set(days)
    lo, hi = day_start(min(wanted), zone), day_start(max(wanted) + timedelta(days=1), zone)
    anonymous = sa.case((N.c.customer_id.is_(None), N.c.entity_id), else_=sa.null())
    previous = sa.func.lag(N.c.detected_at, type_=UTCDateTime).over(
        partition_by=(N.c.arm, N.c.customer_id, anonymous), order_by=(N.c.detected_at, N.c.id))
    rows = (sa.select(N.c.arm, N.c.detected_at.label("at"), previous.label("prev"))
            .where(N.c.rule == rule, N.c.kind == "message", N.c.arm.is_not(None),
                   N.c.detected_at < hi)).subquery()
    counts: Counter[tuple[str, date, date | None]] = Counter()
    for arm, at, prev in session.execute(sa.select(rows).where(rows.c.at >= lo)):
        day = local_day(_aware(at), zone)
        if day in wanted:
            counts[(arm, day, None if prev is None else local_day(_aware(prev), zone))] += 1
    return [{"rule": rule, "arm": arm, "day": day, "prev_day": prev, "subjects": n}
            for (arm, day, prev), n in counts.items()]


def _write_firsts(session: Session, rule: str, days: list[date],
                  rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(days), 200):
        session.execute(sa.delete(RF).where(RF.c.rule == rule, RF.c.day.in_(days[i:i + 200])))
    for i in range(0, len(rows), 5000):
        session.execute(sa.insert(RF), rows[i:i + 5000])


def _next_rows(session: Session, change: Any) -> list[datetime]:
    """The first row after ``change`` of the same customer (or customerless entity) in
    each arm of its rule: their previous row is the changed one, or was."""
    subject = (N.c.customer_id == change.customer_id if change.customer_id is not None
               else sa.and_(N.c.customer_id.is_(None), N.c.entity_id == change.entity_id))
    stmt = (sa.select(sa.func.min(N.c.detected_at))
            .where(N.c.rule == change.rule, N.c.kind == "message", N.c.arm.is_not(None),
                   subject, N.c.detected_at >= change.detected_at)
            .group_by(N.c.arm))
    return [_aware(at) for (at,) in session.execute(stmt) if at is not None]


def _aware(moment: datetime) -> datetime:
    """Core selects of a window or an aggregate may lose the column type: naive = UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
