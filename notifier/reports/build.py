"""What each rule earns, with an honest uplift against its holdout.

    report = build_report(session, settings=settings, rules=rules,
                          start=start, end=end, now=now)
    report.as_dict()          # the body of GET /v1/reports/rules

Counts are *customers assigned in the period* (a rule's notifications detected in
``[start, end)``), split by the arm they were assigned to. The comparison is intention to
treat: a treated customer whose message bounced, or who had no consent and got nothing,
stays treated; only the assignment decides the arm, so the arms stay comparable.

- conversion: treated − holdout conversion rate, Newcombe hybrid score interval;
- revenue per assigned customer (zeros included): percentile bootstrap interval;
- net value: incremental revenue − discount cost of redeemed offers − message cost;
- support contacts per 100 customers and CSAT of each arm's customers, the same way;
- a verdict only when the data supports one (:func:`notifier.track.stats.verdict`), a
  sample-size planner and a sample-ratio-mismatch check.

Conversions come from the track stage's attribution (``converted_at`` and
``conversion_revenue`` on the notification, held-out rows measured from when they would
have been sent). Attribution is last touch across rules, so a held-out customer who buys
after another rule's message counts for that rule, not as a holdout conversion here.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlmodel import Session

from notifier.config import Settings
from notifier.detect.rules import Rule, RuleSet
from notifier.reports import counts
from notifier.reports import queries as q
from notifier.track import stats

ARMS = ("treated", "holdout", "excluded")


@dataclass(frozen=True)
class Planner:
    """How much the rule can tell at its volume and holdout share."""

    baseline_rate: float | None
    detectable_difference: float | None
    customers_per_week: float
    target_difference: float
    weeks_to_target: float | None
    weeks_remaining: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"baseline_rate": _r(self.baseline_rate),
                "detectable_difference": _r(self.detectable_difference),
                "customers_per_week": round(self.customers_per_week, 1),
                "target_difference": self.target_difference,
                "weeks_to_target": _r(self.weeks_to_target, 1),
                "weeks_remaining": _r(self.weeks_remaining, 1)}


@dataclass(frozen=True)
class StepReport:
    step: int
    template: str | None
    arms: dict[str, int]
    skipped: dict[str, int]
    outcomes: dict[str, int]
    converted: dict[str, int]
    revenue: dict[str, float]
    conversion_uplift: stats.Difference | None
    offers: q.OfferCounts
    message_cost: float
    surveys: q.SurveyCounts

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step, "template": self.template,
            "treated": self.arms.get("treated", 0), "holdout": self.arms.get("holdout", 0),
            "excluded": self.arms.get("excluded", 0), "skipped": self.skipped,
            **self.outcomes,
            "converted_treated": self.converted.get("treated", 0),
            "converted_holdout": self.converted.get("holdout", 0),
            "conversion_uplift": _diff(self.conversion_uplift),
            "revenue_treated": _money(self.revenue.get("treated", 0)),
            "revenue_holdout": _money(self.revenue.get("holdout", 0)),
            "offers_issued": self.offers.issued, "offers_redeemed": self.offers.redeemed,
            "discount_cost": _money(self.offers.discount_cost),
            "message_cost": _money(self.message_cost),
            "surveys": _survey_dict(self.surveys),
        }


@dataclass(frozen=True)
class RuleReport:
    """One rule over the period; :meth:`as_dict` is its entry in ``/v1/reports/rules``."""

    rule: str
    loaded: bool
    mode: str | None
    rollout: float | None
    holdout_share: float | None
    customers: dict[str, int]
    converted: dict[str, int]
    revenue: dict[str, float]
    outcomes: dict[str, int]
    skipped: dict[str, int]
    conversion_uplift: stats.Difference | None
    revenue_per_customer_uplift: stats.Difference | None
    offers: q.OfferCounts
    message_cost_by_channel: dict[str, float]
    recovered: dict[str, q.RecoveredCarts]
    contacted: dict[str, int] | None  # None: no support contacts recorded at all
    contacts_uplift: stats.Difference | None
    arm_surveys: dict[str, q.SurveyCounts]
    csat_uplift: stats.Difference | None
    surveys: q.SurveyCounts
    primary_metric: str
    readout: date | None
    verdict: stats.Verdict
    sample_ratio: stats.RatioCheck | None
    planner: Planner
    steps: tuple[StepReport, ...]
    warnings: tuple[str, ...] = ()

    @property
    def treated(self) -> int:
        return self.customers.get("treated", 0)

    @property
    def holdout(self) -> int:
        return self.customers.get("holdout", 0)

    @property
    def message_cost(self) -> float:
        return sum(self.message_cost_by_channel.values())

    @property
    def incremental_revenue(self) -> float | None:
        u = self.revenue_per_customer_uplift
        return None if u is None else u.difference * self.treated

    @property
    def net_value(self) -> float | None:
        gain = self.incremental_revenue
        if gain is None:
            return None
        return gain - self.offers.discount_cost - self.message_cost

    def rate(self, arm: str) -> float | None:
        n = self.customers.get(arm, 0)
        return self.converted.get(arm, 0) / n if n else None

    def as_dict(self) -> dict[str, Any]:
        u = self.conversion_uplift
        per_100 = None if u is None else u.difference * 100
        return {
            "rule": self.rule, "loaded": self.loaded, "mode": self.mode,
            "rollout": self.rollout, "holdout_share": self.holdout_share,
            "treated": self.treated, "holdout": self.holdout,
            "excluded": self.customers.get("excluded", 0),
            "skipped": self.skipped, **self.outcomes,
            "converted_treated": self.converted.get("treated", 0),
            "converted_holdout": self.converted.get("holdout", 0),
            "conversion_rate_treated": _r(self.rate("treated")),
            "conversion_rate_holdout": _r(self.rate("holdout")),
            "conversion_uplift": _diff(u),
            "incremental_conversions_per_100": _r(per_100, 2),
            "incremental_orders": _r(None if u is None else u.difference * self.treated, 1),
            "revenue_treated": _money(self.revenue.get("treated", 0)),
            "revenue_holdout": _money(self.revenue.get("holdout", 0)),
            "revenue_per_customer_treated": _money(_per(self.revenue, self.customers,
                                                        "treated")),
            "revenue_per_customer_holdout": _money(_per(self.revenue, self.customers,
                                                        "holdout")),
            "revenue_per_customer_uplift": _diff(self.revenue_per_customer_uplift, money=True),
            "incremental_revenue": _money(self.incremental_revenue),
            "offers_issued": self.offers.issued, "offers_redeemed": self.offers.redeemed,
            "discount_cost": _money(self.offers.discount_cost),
            "message_cost": _money(self.message_cost),
            "message_cost_by_channel": {k: _money(v) for k, v in
                                        sorted(self.message_cost_by_channel.items())},
            "net_value": _money(self.net_value),
            "recovered_carts": {arm: {"carts": r.carts, "value": _money(r.value),
                                      "via_link": r.via_link}
                                for arm, r in sorted(self.recovered.items())},
            "contacts": None if self.contacted is None else {
                "customers_contacted_treated": self.contacted.get("treated", 0),
                "customers_contacted_holdout": self.contacted.get("holdout", 0),
                "per_100_treated": _r(_per(self.contacted, self.customers, "treated", 100), 2),
                "per_100_holdout": _r(_per(self.contacted, self.customers, "holdout", 100), 2),
                "uplift": _diff(self.contacts_uplift),
            },
            "csat": {
                "treated": _survey_dict(self.arm_surveys.get("treated", q.SurveyCounts())),
                "holdout": _survey_dict(self.arm_surveys.get("holdout", q.SurveyCounts())),
                "uplift": _diff(self.csat_uplift),
            },
            "surveys": _survey_dict(self.surveys),
            "primary_metric": self.primary_metric,
            "readout": self.readout.isoformat() if self.readout else None,
            "verdict": self.verdict,
            "sample_ratio": None if self.sample_ratio is None else {
                "chi_square": round(self.sample_ratio.chi_square, 4),
                "p_value": self.sample_ratio.p_value,
                "mismatch": self.sample_ratio.mismatch},
            "planner": self.planner.as_dict(),
            "warnings": list(self.warnings),
            "steps": [s.as_dict() for s in self.steps],
        }


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    rules: tuple[RuleReport, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(),
                "rules": [r.as_dict() for r in self.rules]}


def build_report(session: Session, *, settings: Settings, rules: RuleSet, start: datetime,
                 end: datetime, now: datetime, rule: str | None = None,
                 target: float | None = None) -> Report:
    """The report for ``[start, end)``: every rule with history in the period (loaded or
    not), or only ``rule``. ``target`` is the uplift the planner reports the weeks to
    detect (default ``[reports] target_difference``)."""
    context = _Context(session, settings, rules, start, end, now,
                       target or settings.reports.target_difference)
    names = [rule] if rule is not None else sorted(
        {*counts.rules_with_rows(session, start=start, end=end,
                                 timezone=settings.shop.timezone, split_=context.pieces),
         *(r.name for r in rules)})
    # Each rule's revenue interval is drawn in the background while the next rule's
    # counts are read; the report waits for them at the end.
    drafts = [context.rule_report(name) for name in names]
    return Report(start, end, tuple(
        replace(r, revenue_per_customer_uplift=uplift.result()) if uplift else r
        for r, uplift in drafts))


class _Context:
    def __init__(self, session: Session, settings: Settings, rules: RuleSet, start: datetime,
                 end: datetime, now: datetime, target: float) -> None:
        self.session, self.settings, self.rules = session, settings, rules
        self.target = target
        self.start, self.end, self.now = start, end, now
        self.revenue = q.revenue_in_shop_currency(settings)
        self.config = settings.reports
        self.costs = {k: float(v) for k, v in self.config.message_cost.items()}
        self.with_contacts = q.has_rows(session, q.K)
        self.with_surveys = q.has_rows(session, q.S)
        self.timezone = settings.shop.timezone
        self.pieces = counts.pieces(session, start=start, end=end, timezone=self.timezone)
        self._groups: dict[str, list[counts.Group]] | None = None

    def step_rows(self, name: str) -> list[q.StepRow]:
        """From the roll-up (every rule's groups read once per report)."""
        if self._groups is None:
            self._groups = defaultdict(list)
            for g in counts.groups(self.session, start=self.start, end=self.end,
                                   timezone=self.timezone, split_=self.pieces):
                self._groups[g.rule].append(g)
        return q.step_rows_from(self._groups.get(name, []), self.settings)

    def arm_rows(self, period: q.Period, contacts_until: datetime | None
                 ) -> tuple[dict[str, q.ArmRow], dict[str, counts.Buyers]]:
        """Customers per arm from the roll-up, buyers from the converted rows; with
        support contacts recorded, the per-customer pass of :func:`q.arm_rows`."""
        bought = counts.buyers(self.session, rule=period.rule, start=self.start,
                               end=self.end, revenue=self.revenue)
        if contacts_until is not None:
            return q.arm_rows(self.session, period, self.revenue,
                              contacts_until=contacts_until), bought
        assigned = counts.customers(self.session, rule=period.rule, start=self.start,
                                    end=self.end, timezone=self.timezone, split_=self.pieces)
        empty = counts.Buyers(0, 0.0)
        return {arm: q.ArmRow(n, bought.get(arm, empty).converted,
                              bought.get(arm, empty).revenue, 0)
                for arm, n in assigned.items()}, bought

    def rule_report(self, name: str) -> tuple[RuleReport, Future[stats.Difference] | None]:
        """The rule's report with its revenue interval still being drawn (the future)."""
        period = q.Period(name, self.start, self.end)
        rule = self.rules.get(name)
        warnings: list[str] = []
        rows = self.step_rows(name)
        contacts_until = (self.end + timedelta(days=self.config.contact_window_days)
                          if self.with_contacts else None)
        arms, bought = self.arm_rows(period, contacts_until)
        customers = {a: arms[a].customers for a in ARMS if a in arms}
        converted = {a: arms[a].converted for a in ARMS if a in arms}
        revenue = {a: arms[a].revenue for a in ARMS if a in arms}
        contacted = {a: arms[a].contacted for a in ARMS if a in arms}
        offers = q.offers_by_step(self.session, period)
        skipped = [(r.step, r.reason or "", r.rows) for r in rows if r.status == "skipped"]
        step_surveys = q.surveys_by_step(self.session, period) if self.with_surveys else {}
        arm_surveys = (q.surveys_by_arm(
            self.session, period, self.revenue,
            until=self.end + timedelta(days=self.config.survey_window_days))
            if self.with_surveys else {})
        if missing := sorted({r.unknown_currency for r in rows if r.unknown_currency}):
            warnings.append("revenue in " + ", ".join(missing) + " left out: no exchange rate "
                            "in [offers.exchange_rates]")

        t, h = customers.get("treated", 0), customers.get("holdout", 0)
        conversion = _newcombe(converted.get("treated", 0), t, converted.get("holdout", 0), h)
        revenue_uplift = self._bootstrap(bought, t, h)
        contacts_uplift = (_newcombe(contacted.get("treated", 0), t,
                                     contacted.get("holdout", 0), h)
                           if self.with_contacts else None)
        st, sh = arm_surveys.get("treated"), arm_surveys.get("holdout")
        csat_uplift = (_newcombe(st.satisfied, st.csat_answers, sh.satisfied, sh.csat_answers)
                       if st and sh else None)

        metric = self.config.primary_metric.get(name, "conversion")
        readout = self._readout(name)
        if metric == "contacts":
            decision, arms_n = contacts_uplift, [(t, contacted.get("treated", 0)),
                                                 (h, contacted.get("holdout", 0))]
            higher = False
        elif metric == "csat":
            decision = csat_uplift
            arms_n = [(s.csat_answers, s.satisfied) for s in (st, sh) if s] or [(0, 0)]
            higher = True
        else:
            decision, arms_n = conversion, [(t, converted.get("treated", 0)),
                                            (h, converted.get("holdout", 0))]
            higher = True
        verdict = stats.verdict(decision, arms=arms_n, min_customers=self.config.min_customers,
                                min_events=self.config.min_conversions, readout=readout,
                                today=self.now.date(), higher_is_better=higher)

        ratio = _ratio_check(rule.rollout if rule else None, rule.holdout if rule else None,
                             customers)
        if ratio is not None and ratio.mismatch:
            warnings.append(f"sample ratio mismatch (p = {ratio.p_value:.2g}): the observed "
                            "split departs from the configured one; do not trust this uplift")
        if rule is None:
            warnings.append("rule not loaded now: its configured split is unknown")

        steps = self._steps(rule, rows, skipped, offers, step_surveys)
        cost_by_channel: Counter[str] = Counter()
        for r in rows:
            if r.channel and r.sent:
                cost_by_channel[r.channel] += r.sent * self.costs.get(r.channel, 0.0)
        return RuleReport(
            rule=name, loaded=rule is not None, mode=rule.mode if rule else None,
            rollout=rule.rollout if rule else None,
            holdout_share=rule.holdout / 100 if rule else None,
            customers=customers, converted=converted, revenue=revenue,
            outcomes=_outcomes(rows), skipped=_reasons(skipped),
            conversion_uplift=conversion, revenue_per_customer_uplift=None,
            offers=_sum_offers(offers.values()), message_cost_by_channel=dict(cost_by_channel),
            recovered=q.recovered_by_arm(self.session, period),
            contacted=contacted if self.with_contacts else None,
            contacts_uplift=contacts_uplift, arm_surveys=dict(arm_surveys),
            csat_uplift=csat_uplift, surveys=_sum_surveys(step_surveys.values()),
            primary_metric=metric, readout=readout, verdict=verdict, sample_ratio=ratio,
            planner=self._planner(rule.holdout if rule else None, t, h,
                                  converted.get("holdout", 0)),
            steps=steps, warnings=tuple(warnings)), revenue_uplift

    def _bootstrap(self, bought: dict[str, counts.Buyers], treated: int, holdout: int
                   ) -> Future[stats.Difference] | None:
        if treated < 2 or holdout < 2:
            return None
        empty = counts.Buyers(0, 0.0)
        return _remembered_bootstrap(bought.get("treated", empty), treated,
                                     bought.get("holdout", empty), holdout,
                                     self.config.bootstrap_resamples)

    def _readout(self, name: str) -> date | None:
        if name in self.config.readouts:
            return self.config.readouts[name]
        first = counts.first_assignment(self.session, rule=name, timezone=self.timezone)
        if first is None:
            return None
        return first.date() + timedelta(days=self.config.readout_after_days)

    def _planner(self, holdout_pct: float | None, treated: int, holdout: int,
                 converted_holdout: int) -> Planner:
        weeks = max((self.end - self.start) / timedelta(weeks=1), 1 / 7)
        per_week = (treated + holdout) / weeks
        target = self.target
        baseline = converted_holdout / holdout if holdout else None
        detectable = needed = None
        if baseline is not None:
            detectable = stats.detectable_difference(baseline, treated, holdout)
            if holdout_pct:
                needed = stats.customers_needed(target, baseline, holdout_pct / 100)
        to_target = needed / per_week if needed is not None and per_week > 0 else None
        remaining = (max(0.0, (needed - treated - holdout) / per_week)
                     if needed is not None and per_week > 0 else None)
        return Planner(baseline, detectable, per_week, target, to_target, remaining)

    def _steps(self, rule: Rule | None, rows: list[q.StepRow],
               skipped: list[tuple[int, str, int]], offers: dict[int, q.OfferCounts],
               surveys: dict[int, q.SurveyCounts]) -> tuple[StepReport, ...]:
        by_step: dict[int, list[q.StepRow]] = defaultdict(list)
        for r in rows:
            by_step[r.step].append(r)
        reasons: dict[int, list[tuple[str, int]]] = defaultdict(list)
        for step, reason, n in skipped:
            reasons[step].append((reason, n))
        indexes = sorted({*by_step, *offers, *(range(len(rule.steps)) if rule else ())})
        out = []
        for index in indexes:
            mine = by_step.get(index, [])
            arms: Counter[str] = Counter()
            conv: Counter[str] = Counter()
            rev: defaultdict[str, float] = defaultdict(float)
            cost = 0.0
            for r in mine:
                if r.arm:
                    arms[r.arm] += r.rows
                    conv[r.arm] += r.converted
                    rev[r.arm] += r.revenue
                if r.channel and r.sent:
                    cost += r.sent * self.costs.get(r.channel, 0.0)
            template = (rule.steps[index].template if rule and index < len(rule.steps)
                        else None)
            out.append(StepReport(
                step=index, template=template, arms=dict(arms),
                skipped=_reasons([(index, why, n) for why, n in reasons.get(index, [])]),
                outcomes=_outcomes(mine), converted=dict(conv), revenue=dict(rev),
                conversion_uplift=_newcombe(conv["treated"], arms["treated"],
                                            conv["holdout"], arms["holdout"]),
                offers=offers.get(index, q.OfferCounts()), message_cost=cost,
                surveys=surveys.get(index, q.SurveyCounts())))
        return tuple(out)


_BOOTSTRAPS: OrderedDict[bytes, Future[stats.Difference]] = OrderedDict()
_BOOTSTRAPS_LOCK = threading.Lock()
_BOOTSTRAPS_KEPT = 256
_POOL: ThreadPoolExecutor | None = None


def forget_intervals() -> None:
    """Drop the remembered revenue intervals (a benchmark timing a cold report)."""
    with _BOOTSTRAPS_LOCK:
        _BOOTSTRAPS.clear()


def _forget_failed(key: bytes, done: Future[stats.Difference]) -> None:
    """A draw that raised is not remembered: the next report tries again."""
    if done.exception() is not None:
        with _BOOTSTRAPS_LOCK:
            if _BOOTSTRAPS.get(key) is done:
                del _BOOTSTRAPS[key]


def _remembered_bootstrap(treated: counts.Buyers, n_treated: int, holdout: counts.Buyers,
                          n_holdout: int, resamples: int) -> Future[stats.Difference]:
    """The revenue interval, drawn in a thread pool and remembered by its inputs.

    With a fixed seed it is a pure function of the buyers' histograms, the arm sizes and
    the resamples, and it is most of a cold report's time (2,000 resamples of each arm):
    the rules' intervals are drawn at once on every core (numpy releases the GIL while it
    samples) while the report goes on reading the next rule's counts. A dashboard
    reloaded or a closed period asked again is answered without resampling; any change
    of the inputs is a new key."""
    global _POOL
    digest = hashlib.blake2b(digest_size=20)
    for part in (np.asarray(treated.totals, dtype=float), np.asarray(treated.customers),
                 np.asarray(holdout.totals, dtype=float), np.asarray(holdout.customers),
                 np.asarray([n_treated, n_holdout, resamples, len(treated.totals)])):
        digest.update(part.tobytes())
    key = digest.digest()
    with _BOOTSTRAPS_LOCK:
        if (found := _BOOTSTRAPS.get(key)) is not None:
            _BOOTSTRAPS.move_to_end(key)
            return found
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1,
                                       thread_name_prefix="bootstrap")
        found = _POOL.submit(stats.bootstrap_sparse_difference, treated.totals, n_treated,
                             holdout.totals, n_holdout, treated_counts=treated.customers,
                             holdout_counts=holdout.customers, resamples=resamples)
        _BOOTSTRAPS[key] = found
        while len(_BOOTSTRAPS) > _BOOTSTRAPS_KEPT:
            _BOOTSTRAPS.popitem(last=False)
    # Outside the lock: a draw already done runs its callback here, at once.
    found.add_done_callback(lambda done: _forget_failed(key, done))
    return found


def _newcombe(x1: int, n1: int, x2: int, n2: int) -> stats.Difference | None:
    return stats.newcombe(x1, n1, x2, n2) if n1 > 0 and n2 > 0 else None


def _ratio_check(rollout: float | None, holdout: float | None,
                 customers: dict[str, int]) -> stats.RatioCheck | None:
    """Observed treated / holdout (/ excluded, below a 100% rollout) against the rule's
    configured shares."""
    if rollout is None or holdout is None or not 0 < holdout < 100:
        return None
    shares = [(100 - holdout) * rollout / 100, holdout * rollout / 100]
    observed = [customers.get("treated", 0), customers.get("holdout", 0)]
    if rollout < 100:
        shares.append(100 - rollout)
        observed.append(customers.get("excluded", 0))
    return stats.sample_ratio_mismatch(observed, shares)


_OUTCOME_FIELDS = ("sent", "delivered", "bounced", "complained", "unsubscribed", "clicked",
                   "opened")


def _outcomes(rows: list[q.StepRow]) -> dict[str, int]:
    """Message outcomes (every arm: only the treated are ever sent). Opens are shown as
    information only: privacy proxies prefetch pixels."""
    out = {name: sum(getattr(r, name) for r in rows) for name in _OUTCOME_FIELDS}
    out["failed"] = sum(r.rows for r in rows if r.status == "failed")
    out["pending"] = sum(r.rows for r in rows if r.status in ("pending", "sending"))
    out["dry_run"] = sum(r.rows for r in rows if r.status == "dry_run")
    return out


# An ISO timestamp in a reason ("quiet hours until 2026-12-01T22:00:00+01:00") would make
# every row its own group; the reasons are grouped with the moment left out.
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ][\d:.]+(?:[+-]\d{2}:\d{2}|Z)?")


def _reasons(rows: list[tuple[int, str, int]]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for _step, reason, n in rows:
        out[_MOMENT.sub("…", reason).strip() or "unknown"] += n
    return dict(out.most_common())


def _sum_offers(items: Iterable[q.OfferCounts]) -> q.OfferCounts:
    total = q.OfferCounts()
    for o in items:
        total.issued += o.issued
        total.redeemed += o.redeemed
        total.discount_cost += o.discount_cost
    return total


def _sum_surveys(items: Iterable[q.SurveyCounts]) -> q.SurveyCounts:
    total = q.SurveyCounts()
    for s in items:
        total.add("csat", s.csat_answers, s.satisfied, 0, s.csat_sum)
        total.add("nps", s.nps_answers, s.promoters, s.detractors, 0)
    return total


def _survey_dict(s: q.SurveyCounts) -> dict[str, Any]:
    """CSAT = share of 4-5 ratings; NPS = % promoters (9-10) − % detractors (0-6)."""
    return {
        "csat_answers": s.csat_answers,
        "csat": _r(s.satisfied / s.csat_answers if s.csat_answers else None),
        "csat_mean": _r(s.csat_sum / s.csat_answers if s.csat_answers else None, 2),
        "nps_answers": s.nps_answers,
        "nps": (round(100 * (s.promoters - s.detractors) / s.nps_answers, 1)
                if s.nps_answers else None),
    }


def _per(values: dict[str, Any], customers: dict[str, int], arm: str,
         scale: float = 1) -> float | None:
    n = customers.get(arm, 0)
    return scale * float(values.get(arm, 0)) / n if n else None


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


def _money(value: float | Decimal | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _diff(d: stats.Difference | None, *, money: bool = False) -> dict[str, Any] | None:
    if d is None:
        return None
    digits = 2 if money else 4
    return {"difference": round(d.difference, digits), "low": round(d.low, digits),
            "high": round(d.high, digits), "confidence": d.confidence, "method": d.method}
