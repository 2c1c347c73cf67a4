"""The daily roll-up answers exactly what a direct aggregation of the notifications does:
periods cutting through days, a shop zone with a DST change inside the period, open days,
and late changes (attribution, clicks, rows inserted, deleted or moved) on closed days."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from notifier.config import Settings
from notifier.detect.rules import RuleSet
from notifier.reports import build_report, counts, daily_counts, rollup
from notifier.reports import queries as q
from notifier.reports.rollup import refresh, state
from notifier.runtime import Runtime, create_runtime
from notifier.store.db import transaction
from notifier.store.report_tables import ReportChange, ReportDay
from notifier.store.tables import Customer, Notification
from notifier.track.activity import Period, funnels, period_counts
from tests.conftest import make_settings
from tests.reports.history import cart_rule

ZONE = "America/New_York"  # UTC-4 until 1 November 2026 02:00, then UTC-5
TZ = ZoneInfo(ZONE)
FIRST = datetime(2026, 10, 20, tzinfo=UTC)
NOW = datetime(2026, 11, 12, 15, 30, tzinfo=UTC)  # the 12th is the open day
RULES = RuleSet((cart_rule(name="cart-a", holdout=30, rollout=80),
                 cart_rule(name="cart-b", holdout=20)))


def test_the_roll_up_row_the_group_and_the_counted_columns_name_the_same_counts() -> None:
    """One list (``rollup.COUNTS``) says which counts a roll-up row holds; the table and the
    merged group must carry exactly those, in that order after the key."""
    names = [f.name for f in dataclasses.fields(counts.Group)]
    assert names == ["day", *rollup.GROUP_KEYS, *rollup.COUNTS]
    assert list(rollup.RD.c.keys()) == ["id", "day", *rollup.GROUP_KEYS, *rollup.COUNTS]
    assert len(rollup.count_columns()) == len(rollup.COUNTS)


@pytest.fixture
def settings(tmp_path: Any, db_url: str) -> Settings:
    return make_settings(tmp_path, database={"url": db_url}, shop={"timezone": ZONE},
                         offers={"exchange_rates": {"EUR": "4.25"}})


@pytest.fixture
def runtime(settings: Settings) -> Any:
    rt = create_runtime(settings)
    yield rt
    rt.close()


def seed(runtime: Runtime, *, rows: int = 900) -> None:
    """Customers with several rows per rule over days, some without a customer, every
    arm and status, conversions in the shop currency, EUR (rated) and USD (no rate)."""
    rng = random.Random(14)
    span = (NOW + timedelta(hours=6) - FIRST).total_seconds()
    statuses = ["delivered", "sent", "skipped", "held_out", "failed", "pending", "dry_run"]
    out = []
    for i in range(rows):
        rule = rng.choice(["cart-a", "cart-b"])
        customer = rng.choice([None, *range(1, 120)])
        at = FIRST + timedelta(seconds=int(rng.random() * span))
        if i % 97 == 0 and out:  # the same moment as another row of the customer
            at = out[-1]["detected_at"]
        status = rng.choice(statuses)
        arm = {"held_out": "holdout"}.get(status, rng.choice(["treated", "excluded", None]))
        sent = status in ("delivered", "sent")
        converted = rng.random() < 0.25
        currency = rng.choice(["PLN", "PLN", "EUR", "USD", None]) if converted else None
        out.append({
            "key": f"k{i}", "rule": rule, "step": rng.choice([0, 0, 1]),
            "entity_kind": "cart", "entity_id": 1000 + i % 300, "customer_id": customer,
            "template": "t", "purpose": "marketing", "channels": ["email"],
            "channel": rng.choice(["email", "sms"]) if sent or status == "failed" else None,
            "status": status, "arm": arm,
            "reason": rng.choice(["quiet hours until 2026-11-02T07:00:00+00:00",
                                  "no consent", None]) if status == "skipped" else None,
            "due_at": at, "detected_at": at, "sent_at": at if sent else None,
            "delivered_at": at if status == "delivered" else None,
            "clicked_at": at if sent and rng.random() < 0.3 else None,
            "opened_at": at if sent and rng.random() < 0.5 else None,
            "bounced_at": at if status == "failed" and rng.random() < 0.5 else None,
            "converted_at": at + timedelta(hours=2) if converted else None,
            "conversion_revenue": Decimal(rng.randint(0, 30) * 10) if converted else None,
            "conversion_currency": currency})
    with transaction(runtime.sessions) as session:
        session.execute(sa.insert(Customer.__table__), [  # type: ignore[attr-defined]
            {"id": c, "source": "api", "external_id": f"c{c}", "created_at": FIRST,
             "updated_at": FIRST} for c in range(1, 120)])
        session.execute(sa.insert(Notification.__table__), out)  # type: ignore[attr-defined]


def local(day: date, hour: float = 0) -> datetime:
    return (datetime(day.year, day.month, day.day, tzinfo=TZ)
            + timedelta(hours=hour)).astimezone(UTC)


PERIODS = [
    (local(date(2026, 10, 20)), local(date(2026, 11, 13))),        # everything, whole days
    (local(date(2026, 10, 25)), local(date(2026, 11, 5))),         # across the DST change
    (local(date(2026, 10, 25), 13.5), local(date(2026, 11, 8), 7)),  # cutting through days
    (local(date(2026, 11, 1), 1.5), local(date(2026, 11, 2))),     # inside the 25-hour day
    (local(date(2026, 11, 10), 5), NOW),                           # up to now: the open day
    (local(date(2026, 11, 12)), local(date(2026, 11, 13))),        # only the open day
    (local(date(2026, 11, 4), 23), local(date(2026, 11, 5), 1)),   # two hours, two days
]


def direct(session: Session, settings: Settings, start: datetime, end: datetime
           ) -> dict[str, Any]:
    """Every figure straight from the notifications (the SQL the reports had before)."""
    out: dict[str, Any] = {}
    revenue = q.revenue_in_shop_currency(settings)
    for rule in ("cart-a", "cart-b"):
        period = q.Period(rule, start, end)
        arms = q.arm_rows(session, period, revenue, contacts_until=None)
        out[rule] = {
            "steps": sorted(_step(r) for r in q.step_rows(session, period, settings)),
            "customers": {a: r.customers for a, r in arms.items() if r.customers},
            "converted": {a: r.converted for a, r in arms.items() if r.converted},
            "revenue": {a: round(r.revenue, 2) for a, r in arms.items() if r.converted},
            "buyers": {a: v for a, v in q.buyer_revenues(session, period, revenue).items()},
        }
    days: Counter[tuple[date, str, str, str]] = Counter()
    stmt = sa.select(Notification.detected_at, Notification.rule, Notification.channel,
                     Notification.status).where(Notification.kind == "message",
                                                Notification.detected_at >= start,
                                                Notification.detected_at < end)
    for at, rule, channel, status in session.execute(stmt):
        days[(at.astimezone(TZ).date(), rule, channel or "-", status)] += 1
    out["days"] = sorted(days.items())
    return out


def rolled(session: Session, settings: Settings, start: datetime, end: datetime
           ) -> dict[str, Any]:
    """The same figures through the roll-up."""
    out: dict[str, Any] = {}
    revenue = q.revenue_in_shop_currency(settings)
    groups = counts.groups(session, start=start, end=end, timezone=ZONE)
    for rule in ("cart-a", "cart-b"):
        bought = counts.buyers(session, rule=rule, start=start, end=end, revenue=revenue)
        out[rule] = {
            "steps": sorted(_step(r) for r in q.step_rows_from(
                [g for g in groups if g.rule == rule], settings)),
            "customers": counts.customers(session, rule=rule, start=start, end=end,
                                          timezone=ZONE),
            "converted": {a: b.converted for a, b in bought.items() if b.converted},
            "revenue": {a: round(b.revenue, 2) for a, b in bought.items() if b.converted},
            "buyers": {a: b.values for a, b in bought.items() if b.values},
        }
    period = Period(start, end, TZ)
    out["days"] = sorted(((c.day, c.rule, c.channel, c.status), c.count)
                         for c in period_counts(session, period=period))
    return out


def _step(r: q.StepRow) -> tuple[Any, ...]:
    return (r.step, r.arm or "", r.status, r.channel or "", r.reason or "", r.rows, r.sent,
            r.delivered, r.bounced, r.complained, r.unsubscribed, r.opened, r.clicked,
            r.converted, round(r.revenue, 2), r.unknown_currency or "")


def check_all(runtime: Runtime, settings: Settings) -> None:
    with runtime.sessions() as session:
        for start, end in PERIODS:
            assert rolled(session, settings, start, end) == direct(session, settings, start,
                                                                   end), (start, end)
        for rule in ("cart-a", "cart-b"):
            assert counts.first_assignment(session, rule=rule, timezone=ZONE) == \
                q.first_assignment(session, rule)


def test_roll_up_equals_direct_aggregation(runtime: Runtime, settings: Settings) -> None:
    seed(runtime)
    check_all(runtime, settings)  # nothing rolled up yet: everything live
    done = refresh(runtime.sessions, timezone=ZONE, now=NOW)
    assert done["days_rolled"] == 24  # 19 October (local) to 11 November
    with runtime.sessions() as session:
        current = state(session, ZONE)
        assert current is not None and current.rolled_until == date(2026, 11, 12)
        assert session.execute(sa.select(sa.func.count()).select_from(ReportDay)).scalar()
    check_all(runtime, settings)


def test_late_changes_on_closed_days_are_applied(runtime: Runtime, settings: Settings) -> None:
    seed(runtime)
    refresh(runtime.sessions, timezone=ZONE, now=NOW)
    closed = local(date(2026, 10, 28), 10)
    with transaction(runtime.sessions) as session:
        rows = list(session.execute(sa.select(Notification.id, Notification.customer_id)
                                    .where(Notification.detected_at < closed)
                                    .order_by(Notification.id)).all())
        # late attribution and a click on a closed day
        session.execute(sa.update(Notification).where(Notification.id == rows[0].id).values(
            converted_at=NOW, conversion_revenue=Decimal("123.45"),
            conversion_currency="PLN", clicked_at=NOW))
        # a row moved to another customer, a row deleted, a row inserted in the past
        session.execute(sa.update(Notification).where(Notification.id == rows[1].id)
                        .values(customer_id=None))
        session.execute(sa.delete(Notification).where(Notification.id == rows[2].id))
        session.execute(sa.insert(Notification.__table__).values(  # type: ignore[attr-defined]
            key="late", rule="cart-a", step=0, entity_kind="cart", entity_id=5,
            customer_id=rows[3].customer_id or 7, template="t", purpose="marketing",
            channels=["email"], status="held_out", arm="holdout", due_at=closed,
            detected_at=closed, kind="message"))
        # a lease taken: not a counted column, not logged
        session.execute(sa.update(Notification).where(Notification.id == rows[4].id)
                        .values(lease_owner="w1"))
    with runtime.sessions() as session:
        logged = session.execute(sa.select(sa.func.count()).select_from(ReportChange)).scalar()
    assert logged == 5  # click+conversion, move (old and new), delete, insert
    check_all(runtime, settings)  # the reader applies the log first
    with runtime.sessions() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(ReportChange)).scalar() \
            == 0
    refresh(runtime.sessions, timezone=ZONE, now=NOW + timedelta(days=2))  # two more days
    check_all(runtime, settings)


def test_reports_and_dashboard_read_the_same_numbers_rolled_up_or_live(
        runtime: Runtime, settings: Settings) -> None:
    seed(runtime)
    start, end = PERIODS[2]
    with runtime.sessions() as session:
        live = build_report(session, settings=settings, rules=RULES, start=start, end=end,
                            now=NOW).as_dict()
        live_days = daily_counts(session, start=start, end=end, timezone=ZONE)
        period = Period.choose("30d", now=NOW, tz=TZ)
        live_funnels = funnels(session, period=period)
    refresh(runtime.sessions, timezone=ZONE, now=NOW)
    with runtime.sessions() as session:
        assert build_report(session, settings=settings, rules=RULES, start=start, end=end,
                            now=NOW).as_dict() == live
        assert daily_counts(session, start=start, end=end, timezone=ZONE) == live_days
        assert funnels(session, period=period) == live_funnels
    assert live["rules"][0]["treated"] > 0 and live_days


def test_another_zone_starts_the_roll_up_over(runtime: Runtime, settings: Settings) -> None:
    seed(runtime, rows=200)
    refresh(runtime.sessions, timezone=ZONE, now=NOW)
    with runtime.sessions() as session:
        assert state(session, "Europe/Warsaw") is None  # read live in another zone
    done = refresh(runtime.sessions, timezone="Europe/Warsaw", now=NOW)
    assert done["days_rolled"] == 23
    with runtime.sessions() as session:
        start, end = PERIODS[0]
        groups = counts.groups(session, start=start, end=end, timezone="Europe/Warsaw")
        assert sum(g.rows for g in groups) == session.execute(
            sa.select(sa.func.count()).select_from(Notification).where(
                Notification.detected_at >= start, Notification.detected_at < end)).scalar()


def test_a_remembered_bootstrap_is_the_computed_one_and_new_inputs_compute_again() -> None:
    from notifier.reports.build import _remembered_bootstrap
    from notifier.track.stats import bootstrap_sparse_difference

    def arm(*values: float) -> counts.Buyers:  # the histogram counts.buyers reads
        distinct = sorted(set(values))
        return counts.Buyers(len(values), sum(values), tuple(distinct),
                             tuple(values.count(v) for v in distinct))

    treated, holdout = [120.0, 80.0, 80.0, 310.5], [99.0, 42.0]
    first = _remembered_bootstrap(arm(*treated), 50, arm(*holdout), 40, 500)
    assert first.result() == bootstrap_sparse_difference(treated, 50, holdout, 40,
                                                         resamples=500)
    assert _remembered_bootstrap(arm(*treated), 50, arm(*holdout), 40, 500) is first
    changed = _remembered_bootstrap(arm(*treated, 55.0), 50, arm(*holdout), 40, 500)
    assert changed.result() == bootstrap_sparse_difference(
        [*treated, 55.0], 50, holdout, 40, resamples=500) != first.result()
    assert _remembered_bootstrap(arm(*treated), 51, arm(*holdout), 40, 500
                                 ).result() != first.result()
    # Another histogram of the same values (one more customer at 80) is another input.
    assert _remembered_bootstrap(arm(*treated, 80.0), 50, arm(*holdout), 40, 500
                                 ).result() != first.result()


def test_a_failed_bootstrap_is_not_remembered() -> None:
    from concurrent.futures import Future

    from notifier.reports import build

    failed: Future[Any] = Future()
    failed.set_exception(ValueError("a bootstrap needs at least two observations"))
    done: Future[Any] = Future()
    done.set_result("an interval")
    with build._BOOTSTRAPS_LOCK:
        build._BOOTSTRAPS[b"failed"], build._BOOTSTRAPS[b"done"] = failed, done
    build._forget_failed(b"failed", failed)
    build._forget_failed(b"done", done)
    assert b"failed" not in build._BOOTSTRAPS
    assert build._BOOTSTRAPS.pop(b"done") is done
