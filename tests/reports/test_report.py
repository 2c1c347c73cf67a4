"""The per-rule report on a fixture history with a known answer."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from notifier.reports import build_report
from notifier.runtime import Runtime, create_runtime
from tests.conftest import make_settings
from tests.reports.history import END, START, cart_rule, plant, ruleset

AFTER_READOUT = datetime(2027, 1, 15, tzinfo=UTC)


@pytest.fixture
def report_runtime(tmp_path: Path, db_url: str) -> Runtime:
    settings = make_settings(tmp_path, database={"url": db_url}, reports={
        "readouts": {"cart-test": "2027-01-01"},
        "message_cost": {"email": "0.01", "sms": "0.07", "push": "0"}})
    runtime = create_runtime(settings)
    yield runtime
    runtime.close()


def _report(runtime: Runtime, rule, now=AFTER_READOUT):  # type: ignore[no-untyped-def]
    with runtime.sessions() as session:
        return build_report(session, settings=runtime.settings, rules=ruleset(rule),
                            start=START, end=END, now=now).rules[0]


def test_planted_effect_is_counted_exactly_and_covered(report_runtime: Runtime) -> None:
    rule = cart_rule(holdout=20)
    planted = plant(report_runtime, rule, carts=5000, rates={"treated": 0.12, "holdout": 0.08})
    report = _report(report_runtime, rule)
    body = report.as_dict()

    assert body["treated"] == planted.customers["treated"]
    assert body["holdout"] == planted.customers["holdout"]
    assert body["treated"] + body["holdout"] == 5000
    assert body["converted_treated"] == planted.converted["treated"]
    assert body["converted_holdout"] == planted.converted["holdout"]
    assert body["revenue_treated"] == float(planted.revenue["treated"])
    assert body["revenue_holdout"] == float(planted.revenue["holdout"])
    # The rates are fractions, and the planted difference 0.04 lies in the interval.
    assert body["conversion_rate_treated"] == pytest.approx(0.12, abs=1e-3)
    assert body["conversion_rate_holdout"] == pytest.approx(0.08, abs=1e-3)
    uplift = body["conversion_uplift"]
    assert uplift["method"] == "newcombe-hybrid-score" and uplift["confidence"] == 0.95
    assert uplift["low"] < 0.04 < uplift["high"]
    assert uplift["low"] > 0
    assert body["verdict"] == "better"
    # 200 PLN per buyer: revenue per customer 24 vs 16, the interval covers the 8 planted.
    revenue = body["revenue_per_customer_uplift"]
    assert revenue["low"] < 8.0 < revenue["high"]
    assert body["incremental_conversions_per_100"] == pytest.approx(
        100 * (body["conversion_rate_treated"] - body["conversion_rate_holdout"]), abs=0.01)
    # Messages: every treated customer had an email (0.01); non-buyers an SMS (0.07) a day
    # later, counted when that day is still in the period.
    treated = planted.customers["treated"]
    assert planted.sent["email"] == treated
    assert body["sent"] == planted.sent["email"] + planted.sent["sms"]
    assert body["message_cost"] == pytest.approx(
        planted.sent["email"] * 0.01 + planted.sent["sms"] * 0.07, abs=0.01)
    assert body["net_value"] == pytest.approx(
        body["incremental_revenue"] - body["discount_cost"] - body["message_cost"], abs=0.02)
    assert body["sample_ratio"]["mismatch"] is False
    steps = {s["step"]: s for s in body["steps"]}
    assert steps[0]["treated"] == treated and steps[0]["holdout"] == planted.customers["holdout"]
    assert steps[1]["treated"] == planted.sent["sms"] and steps[1]["holdout"] == 0
    planner = body["planner"]
    assert planner["detectable_difference"] < 0.04
    assert planner["baseline_rate"] == pytest.approx(0.08, abs=1e-3)


def test_no_planted_effect_is_never_better(report_runtime: Runtime) -> None:
    rule = cart_rule(holdout=20)
    plant(report_runtime, rule, carts=5000, rates={"treated": 0.10, "holdout": 0.10})
    before = _report(report_runtime, rule, now=datetime(2026, 12, 2, tzinfo=UTC))
    after = _report(report_runtime, rule)
    assert before.verdict == "preliminary"
    assert after.verdict == "no difference detected"
    assert after.conversion_uplift is not None
    assert after.conversion_uplift.low < 0 < after.conversion_uplift.high


def test_too_few_customers_is_insufficient_data(report_runtime: Runtime) -> None:
    rule = cart_rule(holdout=20)
    plant(report_runtime, rule, carts=300, rates={"treated": 0.5, "holdout": 0.0})
    report = _report(report_runtime, rule)
    assert report.verdict == "insufficient data"  # holdout: ~60 customers < 100


def test_a_broken_split_is_flagged(report_runtime: Runtime) -> None:
    # Customers were assigned with a 50% holdout; the rule now says 20%.
    plant(report_runtime, cart_rule(holdout=50), carts=2000, rates={})
    report = _report(report_runtime, cart_rule(holdout=20))
    assert report.sample_ratio is not None and report.sample_ratio.mismatch
    assert any("sample ratio mismatch" in w for w in report.warnings)


def test_rollout_exclusions_are_their_own_arm(report_runtime: Runtime) -> None:
    rule = cart_rule(holdout=20, rollout=50)
    planted = plant(report_runtime, rule, carts=2000, rates={"treated": 0.1, "holdout": 0.1})
    body = _report(report_runtime, rule).as_dict()
    assert body["excluded"] == planted.customers["excluded"]
    assert body["treated"] + body["holdout"] + body["excluded"] == 2000
    assert body["skipped"] == {"outside rollout (x)": planted.customers["excluded"]}
    assert body["sample_ratio"]["mismatch"] is False


def test_an_empty_period_reports_nothing_to_say(report_runtime: Runtime) -> None:
    body = _report(report_runtime, cart_rule()).as_dict()
    assert (body["treated"], body["holdout"], body["verdict"]) == (0, 0, "insufficient data")
    assert body["conversion_uplift"] is None and body["net_value"] is None
    assert body["readout"] == date(2027, 1, 1).isoformat()
    assert Decimal(str(body["message_cost"])) == 0
