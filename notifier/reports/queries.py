"""The report's aggregate queries: a few passes over one rule's rows, through the
``(rule, detected_at)`` index. Nothing leaves the database row by row except the
revenue of customers who bought (the bootstrap needs those values; everyone else is a 0).

A *subject* is the customer, or for a guest the case (``-entity_id``): a customer is
assigned to the same arm on every case (see :mod:`notifier.detect.sampling`), so the
rule-level counts are customers, not notifications. Rows without an ``arm`` (steps
superseded or stale before anything was due) belong to no arm.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from notifier.config import Settings
from notifier.reports import counts as day_counts
from notifier.store.offer_tables import Offer
from notifier.store.tables import Cart, Notification
from notifier.store.track_tables import Contact, SurveyAnswer

N: sa.Table = Notification.__table__  # type: ignore[attr-defined]
OF: sa.Table = Offer.__table__  # type: ignore[attr-defined]
C: sa.Table = Cart.__table__  # type: ignore[attr-defined]
K: sa.Table = Contact.__table__  # type: ignore[attr-defined]
S: sa.Table = SurveyAnswer.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in UTC, one rule."""

    rule: str
    start: datetime
    end: datetime

    def where(self) -> sa.ColumnElement[bool]:
        # Only customer messages: support emails and webhooks share the outbox and the rule.
        return sa.and_(N.c.rule == self.rule, N.c.kind == "message",
                       N.c.detected_at >= self.start, N.c.detected_at < self.end)


    def joined(self) -> sa.ColumnElement[bool]:
        """:meth:`where` for a join driven from a smaller table (offers, carts, survey
        answers): the same test, written so no index of ``notifications`` applies
        (SQLite otherwise walks the period's notifications and looks each one up)."""
        return sa.and_((N.c.rule + "") == self.rule, N.c.kind == "message",
                       sa.func.coalesce(N.c.detected_at, N.c.detected_at) >= self.start,
                       sa.func.coalesce(N.c.detected_at, N.c.detected_at) < self.end)


@dataclass(frozen=True)
class StepRow:
    """Notifications of one (step, arm, status, channel, skip reason)."""

    step: int
    arm: str | None
    status: str
    channel: str | None
    reason: str | None  # only for skipped rows
    rows: int
    sent: int
    delivered: int
    bounced: int
    complained: int
    unsubscribed: int
    opened: int
    clicked: int
    converted: int
    revenue: float
    unknown_currency: str | None  # a revenue currency without exchange rate, if any


@dataclass(frozen=True)
class ArmRow:
    """Customers of one arm: how many, how many converted, their revenue, and how many
    contacted support in the window after their first assignment."""

    customers: int
    converted: int
    revenue: float
    contacted: int


@dataclass
class SurveyCounts:
    """Answers to CSAT (1-5) and NPS (0-10) questions."""

    csat_answers: int = 0
    satisfied: int = 0       # CSAT 4 or 5
    csat_sum: int = 0
    nps_answers: int = 0
    promoters: int = 0       # NPS 9-10
    detractors: int = 0      # NPS 0-6

    def add(self, kind: str, answers: int, top: int, bottom: int, total: int) -> None:
        if kind == "csat":
            self.csat_answers += answers
            self.satisfied += top
            self.csat_sum += total
        elif kind == "nps":
            self.nps_answers += answers
            self.promoters += top
            self.detractors += bottom


@dataclass
class OfferCounts:
    issued: int = 0
    redeemed: int = 0
    discount_cost: float = 0.0


@dataclass
class RecoveredCarts:
    carts: int = 0
    value: float = 0.0
    via_link: int = 0


def _known(settings: Settings) -> list[str]:
    return sorted({settings.shop.currency.upper(),
                   *(c.upper() for c in settings.offers.exchange_rates)})


def revenue_in_shop_currency(settings: Settings) -> sa.ColumnElement[Any]:
    """``conversion_revenue`` in the shop currency (``[offers].exchange_rates``); revenue
    in a currency without a rate is left out (NULL) and reported as a warning."""
    shop = settings.shop.currency.upper()
    whens: list[tuple[sa.ColumnElement[bool], sa.ColumnElement[Any]]] = [
        (sa.or_(N.c.conversion_currency.is_(None), N.c.conversion_currency == shop),
         N.c.conversion_revenue)]
    whens += [(N.c.conversion_currency == cur.upper(), N.c.conversion_revenue * rate)
              for cur, rate in settings.offers.exchange_rates.items() if cur.upper() != shop]
    return sa.case(*whens, else_=sa.null())


def _subject() -> sa.ColumnElement[int]:
    return sa.case((N.c.customer_id.is_not(None), N.c.customer_id), else_=-N.c.entity_id)


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def step_rows(session: Session, period: Period, settings: Settings) -> list[StepRow]:
    """The one pass over the period's rows that every count comes from: grouped by step,
    arm, status, channel and (for skipped rows only) the reason."""
    reason = sa.case((N.c.status == "skipped", N.c.reason), else_=sa.null())
    unknown = sa.case((N.c.conversion_currency.not_in(_known(settings)),
                       N.c.conversion_currency), else_=sa.null())
    stmt = (sa.select(
        N.c.step, N.c.arm, N.c.status, N.c.channel, reason, sa.func.count(),
        sa.func.count(N.c.sent_at), sa.func.count(N.c.delivered_at),
        sa.func.count(N.c.bounced_at), sa.func.count(N.c.complained_at),
        sa.func.count(N.c.unsubscribed_at), sa.func.count(N.c.opened_at),
        sa.func.count(N.c.clicked_at), sa.func.count(N.c.converted_at),
        sa.func.coalesce(sa.func.sum(revenue_in_shop_currency(settings)), 0),
        sa.func.max(unknown))
        .where(period.where())
        .group_by(N.c.step, N.c.arm, N.c.status, N.c.channel, reason))
    return [StepRow(*row[:14], float(row[14] or 0), row[15]) for row in session.execute(stmt)]


def _per_subject(period: Period, revenue: sa.ColumnElement[Any]) -> sa.Subquery:
    subject = _subject()
    return (sa.select(
        N.c.arm.label("arm"), subject.label("subject"),
        sa.func.max(N.c.customer_id).label("customer_id"),
        sa.func.min(N.c.detected_at).label("first"),
        sa.func.max(sa.case((N.c.converted_at.is_not(None), 1), else_=0)).label("converted"),
        sa.func.coalesce(sa.func.sum(revenue), 0).label("revenue"))
        .where(period.where(), N.c.arm.is_not(None))
        .group_by(N.c.arm, subject)).subquery("per_subject")


def arm_rows(session: Session, period: Period, revenue: sa.ColumnElement[Any], *,
             contacts_until: datetime | None) -> dict[str, ArmRow]:
    """Customers per arm. With ``contacts_until`` also those who contacted support from
    their first assignment until then (a pass per customer; skipped when no contact was
    ever recorded)."""
    if contacts_until is None:
        subject = _subject()
        converted = sa.case((N.c.converted_at.is_not(None), subject), else_=sa.null())
        stmt = (sa.select(N.c.arm, sa.func.count(sa.distinct(subject)),
                          sa.func.count(sa.distinct(converted)),
                          sa.func.coalesce(sa.func.sum(revenue), 0), sa.literal(0))
                .where(period.where(), N.c.arm.is_not(None)).group_by(N.c.arm))
    else:
        per = _per_subject(period, revenue)
        touched = sa.exists().where(K.c.customer_id == per.c.customer_id,
                                    K.c.contacted_at >= per.c.first,
                                    K.c.contacted_at < contacts_until)
        stmt = sa.select(per.c.arm, sa.func.count(),
                         sa.func.coalesce(sa.func.sum(per.c.converted), 0),
                         sa.func.coalesce(sa.func.sum(per.c.revenue), 0), _count_if(touched)
                         ).group_by(per.c.arm)
    return {arm: ArmRow(int(n), int(conv), float(rev or 0), int(touched_n))
            for arm, n, conv, rev, touched_n in session.execute(stmt)}


def buyer_revenues(session: Session, period: Period, revenue: sa.ColumnElement[Any]
                   ) -> dict[str, list[float]]:
    """Revenue per customer who bought, per arm (the others are zeros)."""
    subject = _subject()
    # Through ix_notifications_rule_converted: only the rows that converted are read.
    stmt = (sa.select(N.c.arm, sa.func.sum(revenue))
            .where(N.c.rule == period.rule, N.c.converted_at.is_not(None),
                   N.c.detected_at >= period.start, N.c.detected_at < period.end,
                   N.c.arm.is_not(None))
            .group_by(N.c.arm, subject))
    out: dict[str, list[float]] = defaultdict(list)
    for arm, value in session.execute(stmt):
        if value:
            out[arm].append(float(value))
    return {arm: sorted(values) for arm, values in out.items()}  # independent of row order


def surveys_by_arm(session: Session, period: Period, revenue: sa.ColumnElement[Any], *,
                   until: datetime) -> dict[str, SurveyCounts]:
    """Survey answers (to any rule's question) given by each arm's customers between their
    first assignment and ``until``: did the message keep satisfaction up?"""
    per = _per_subject(period, revenue)
    stmt = (sa.select(per.c.arm, S.c.kind, *_survey_columns())
            .select_from(per.join(S, sa.and_(S.c.customer_id == per.c.customer_id,
                                             S.c.answered_at >= per.c.first,
                                             S.c.answered_at < until)))
            .group_by(per.c.arm, S.c.kind))
    out: dict[str, SurveyCounts] = defaultdict(SurveyCounts)
    for arm, kind, *counts in session.execute(stmt):
        out[arm].add(kind, *(int(c or 0) for c in counts))
    return out


def _survey_columns() -> list[sa.ColumnElement[int]]:
    top = sa.case((S.c.kind == "csat", S.c.score >= 4), else_=S.c.score >= 9)
    return [sa.func.count(), _count_if(top), _count_if(S.c.score <= 6),
            sa.func.coalesce(sa.func.sum(S.c.score), 0)]


def surveys_by_step(session: Session, period: Period) -> dict[int, SurveyCounts]:
    """Answers to the rule's own questions, per step of the message that asked."""
    stmt = (sa.select(N.c.step, S.c.kind, *_survey_columns())
            .select_from(S.join(N, N.c.id == S.c.notification_id))
            .where(period.joined())
            .group_by(N.c.step, S.c.kind))
    out: dict[int, SurveyCounts] = defaultdict(SurveyCounts)
    for step, kind, *counts in session.execute(stmt):
        out[step].add(kind, *(int(c or 0) for c in counts))
    return out


def offers_by_step(session: Session, period: Period) -> dict[int, OfferCounts]:
    """Offers attached to the period's notifications. Voided ones never reached the
    customer and are not counted as issued; the discount cost of a redeemed offer is its
    cost as estimated when it was issued (see :mod:`notifier.offers.costs`)."""
    redeemed = OF.c.status == "redeemed"
    stmt = (sa.select(OF.c.step, _count_if(OF.c.status != "void"), _count_if(redeemed),
                      sa.func.coalesce(sa.func.sum(
                          sa.case((redeemed, OF.c.estimated_cost), else_=0)), 0))
            .where(sa.exists().where(N.c.id == OF.c.notification_id, period.joined()))
            .group_by(OF.c.step))
    return {step: OfferCounts(int(i), int(r), float(cost or 0))
            for step, i, r, cost in session.execute(stmt)}


def recovered_by_arm(session: Session, period: Period) -> dict[str, RecoveredCarts]:
    """Carts that became an order within the window of their first (held-out) reminder."""
    stmt = (sa.select(N.c.arm, sa.func.count(), sa.func.coalesce(sa.func.sum(C.c.value), 0),
                      _count_if(C.c.recovered_via_link))
            .select_from(C.join(N, N.c.id == C.c.recovered_notification_id))
            .where(C.c.recovered_at.is_not(None), period.joined())
            .group_by(N.c.arm))
    return {arm: RecoveredCarts(int(n), float(v or 0), int(link))
            for arm, n, v, link in session.execute(stmt) if arm is not None}


def first_assignment(session: Session, rule: str) -> datetime | None:
    stmt = sa.select(sa.func.min(N.c.detected_at)).where(N.c.rule == rule,
                                                         N.c.arm.is_not(None))
    return session.execute(stmt).scalar()


def has_rows(session: Session, table: sa.Table) -> bool:
    return session.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() \
        is not None


def rules_with_rows(session: Session, start: datetime, end: datetime) -> list[str]:
    """Rules with notifications in the period (a rule no longer loaded still has history)."""
    stmt = (sa.select(N.c.rule).distinct()
            .where(N.c.detected_at >= start, N.c.detected_at < end))
    return sorted(r for (r,) in session.execute(stmt))


@dataclass(frozen=True)
class DailyCount:
    """Customer messages detected on one shop-local day, by rule, channel and status."""

    day: str
    rule: str
    channel: str | None
    status: str
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day, "rule": self.rule, "channel": self.channel,
                "status": self.status, "count": self.count}


def daily_counts(session: Session, *, start: datetime, end: datetime, timezone: str,
                 rule: str | None = None) -> list[DailyCount]:
    """Per shop-local day (by ``detected_at``), rule, channel and status: the charts'
    series, from :mod:`notifier.reports.counts` like every other count."""
    total: Counter[tuple[date, str, str | None, str]] = Counter()
    for g in day_counts.groups(session, start=start, end=end, timezone=timezone, rule=rule,
                           by_day=True):
        assert g.day is not None
        total[(g.day, g.rule, g.channel, g.status)] += g.rows
    return [DailyCount(d.isoformat(), r, ch, st, n) for (d, r, ch, st), n in
            sorted(total.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "",
                                                  kv[0][3]))]


def step_rows_from(groups: Iterable[Any], settings: Settings) -> list[StepRow]:
    """:func:`step_rows` from the roll-up's groups (:class:`notifier.reports.counts.Group`):
    the same rows, revenue turned into the shop currency here instead of in SQL."""
    shop = settings.shop.currency.upper()
    rates = {cur.upper(): Decimal(str(rate)) for cur, rate in
             settings.offers.exchange_rates.items() if cur.upper() != shop}
    known = set(_known(settings))
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for g in groups:
        key = (g.step, g.arm, g.status, g.channel, g.reason if g.status == "skipped" else None)
        row = merged.setdefault(key, [0] * 9 + [Decimal(0), None])
        for i, value in enumerate((g.rows, g.sent, g.delivered, g.bounced, g.complained,
                                   g.unsubscribed, g.opened, g.clicked, g.converted)):
            row[i] += value
        if g.currency is None or g.currency == shop:
            row[9] += g.revenue
        elif g.currency in rates:
            row[9] += g.revenue * rates[g.currency]
        if g.currency is not None and g.currency not in known:
            row[10] = max(row[10] or "", g.currency)
    return [StepRow(*key, *v[:9], float(v[9]), v[10]) for key, v in merged.items()]
