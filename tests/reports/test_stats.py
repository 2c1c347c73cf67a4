"""The statistics against published worked examples, never against their own output."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from notifier.track import stats

# Newcombe RG (1998). Interval estimation for the difference between independent
# proportions: comparison of eleven methods. Statistics in Medicine 17:873-890.
# Table II, method 10 (score interval without continuity correction), examples (a)-(h):
# (x1, n1, x2, n2) -> difference, lower, upper. (e)-(h) are the boundary cases with zero
# events (and all events) in an arm. The same values appear in statsmodels' and
# DescTools' test suites.
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.2000, 0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.6000, 0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.5714, 0.0582, 0.8062)),
    ((5, 56, 0, 29), (0.0893, -0.0381, 0.1926)),
    ((0, 10, 0, 20), (0.0000, -0.1611, 0.2775)),
    ((0, 10, 0, 10), (0.0000, -0.2775, 0.2775)),
    ((10, 10, 0, 20), (1.0000, 0.6791, 1.0000)),
    ((10, 10, 0, 10), (1.0000, 0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE_TABLE_II)
def test_newcombe_reproduces_the_papers_table_to_four_decimals(counts, expected) -> None:
    d = stats.newcombe(*counts)
    assert (round(d.difference, 4), round(d.low, 4), round(d.high, 4)) == expected
    assert d.method == "newcombe-hybrid-score" and d.confidence == 0.95


# Newcombe RG (1998). Two-sided confidence intervals for the single proportion:
# comparison of seven methods. Statistics in Medicine 17:857-872, Table I, method 3
# (Wilson score without continuity correction).
WILSON_TABLE_I = [
    ((81, 263), (0.2553, 0.3662)),
    ((15, 148), (0.0624, 0.1605)),
    ((0, 20), (0.0000, 0.1611)),
    ((1, 29), (0.0061, 0.1718)),
]


@pytest.mark.parametrize(("counts", "expected"), WILSON_TABLE_I)
def test_wilson_reproduces_newcombes_single_proportion_table(counts, expected) -> None:
    ci = stats.wilson(*counts)
    assert (round(ci.low, 4), round(ci.high, 4)) == expected


def test_an_empty_arm_has_no_interval() -> None:
    with pytest.raises(ValueError, match="at least one"):
        stats.wilson(0, 0)
    with pytest.raises(ValueError, match=r"0\.\.10"):
        stats.newcombe(11, 10, 1, 10)


def test_bootstrap_is_reproducible_and_agrees_with_the_normal_theory_interval() -> None:
    rng = np.random.default_rng(7)
    # Revenue per customer, zeros included: 12% buy ~ 200 in treated, 8% in holdout.
    treated = np.where(rng.random(4000) < 0.12, rng.gamma(4.0, 50.0, 4000), 0.0)
    holdout = np.where(rng.random(1000) < 0.08, rng.gamma(4.0, 50.0, 1000), 0.0)
    first = stats.bootstrap_difference(treated, holdout)
    assert first == stats.bootstrap_difference(treated, holdout)
    assert first.method == f"percentile-bootstrap ({stats.BOOTSTRAP_RESAMPLES} resamples)"
    # With thousands of customers the bootstrap distribution of a mean is close to normal:
    # the Welch interval, computed here from its textbook formula, is the yardstick.
    diff = treated.mean() - holdout.mean()
    se = math.sqrt(treated.var(ddof=1) / treated.size + holdout.var(ddof=1) / holdout.size)
    assert first.difference == pytest.approx(diff)
    assert first.low == pytest.approx(diff - 1.959964 * se, abs=0.12 * se)
    assert first.high == pytest.approx(diff + 1.959964 * se, abs=0.12 * se)


def test_bootstrap_draws_the_same_distribution_as_scipys() -> None:
    # Our resampling draws only buyers (Binomial count, then values); scipy.stats.bootstrap
    # resamples every customer. The two intervals agree up to Monte Carlo error.
    from scipy.stats import bootstrap

    rng = np.random.default_rng(11)
    treated = np.where(rng.random(3000) < 0.1, rng.lognormal(5, 1, 3000), 0.0)
    holdout = np.where(rng.random(800) < 0.07, rng.lognormal(5, 1, 800), 0.0)
    ours = stats.bootstrap_difference(treated, holdout, resamples=4000)
    theirs = bootstrap((treated, holdout), lambda a, b, axis: a.mean(axis) - b.mean(axis),
                       n_resamples=4000, method="percentile", vectorized=True,
                       rng=np.random.default_rng(3)).confidence_interval
    width = theirs.high - theirs.low
    assert ours.low == pytest.approx(theirs.low, abs=0.05 * width)
    assert ours.high == pytest.approx(theirs.high, abs=0.05 * width)


def test_bootstrap_with_repeated_totals_agrees_with_scipys() -> None:
    # Few distinct order totals: resamples are drawn as counts per distinct value.
    from scipy.stats import bootstrap

    rng = np.random.default_rng(5)
    prices = np.array([49.0, 99.0, 149.0, 199.0])
    treated = np.where(rng.random(4000) < 0.12, rng.choice(prices, 4000), 0.0)
    holdout = np.where(rng.random(1000) < 0.08, rng.choice(prices, 1000), 0.0)
    ours = stats.bootstrap_difference(treated, holdout, resamples=4000)
    theirs = bootstrap((treated, holdout), lambda a, b, axis: a.mean(axis) - b.mean(axis),
                       n_resamples=4000, method="percentile", vectorized=True,
                       rng=np.random.default_rng(3)).confidence_interval
    width = theirs.high - theirs.low
    assert ours.low == pytest.approx(theirs.low, abs=0.05 * width)
    assert ours.high == pytest.approx(theirs.high, abs=0.05 * width)


def test_bootstrap_of_constant_arms_is_a_point() -> None:
    d = stats.bootstrap_difference([0.0, 0.0, 0.0], [0.0, 0.0])
    assert (d.difference, d.low, d.high) == (0.0, 0.0, 0.0)
    d = stats.bootstrap_difference([5.0, 5.0], [5.0, 5.0, 5.0])
    assert (d.difference, d.low, d.high) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="two observations"):
        stats.bootstrap_difference([1.0], [1.0, 2.0])


def test_power_matches_a_published_sample_size() -> None:
    # JMP 13.2 documentation, "Two Sample Proportions": 0.08 vs 0.06, alpha 0.05
    # two-sided, power 0.8 -> 2554 per group (normal approximation, no correction).
    assert stats.power(0.02, 0.06, 2554, 2554) >= 0.8
    assert stats.power(0.02, 0.06, 2553, 2553) < 0.8
    assert stats.customers_needed(0.02, 0.06, 0.5) in (5107, 5108)
    # Fleiss, Statistical Methods for Rates and Proportions, Table A3 (uncorrected form,
    # as statpages.org's "classical" calculation): 0.10 vs 0.15 -> 686 per group.
    assert stats.power(0.05, 0.10, 686, 686) >= 0.8 > stats.power(0.05, 0.10, 685, 685)


def test_detectable_difference_inverts_power() -> None:
    d = stats.detectable_difference(0.06, 2554, 2554)
    assert d is not None and 0.0199 < d <= 0.02
    assert stats.detectable_difference(0.5, 0, 10) is None
    assert stats.detectable_difference(0.99, 3, 3) is None  # even 100% is not enough


def test_weeks_to_detect_follow_the_volume() -> None:
    weeks = stats.weeks_to_detect(0.02, 0.06, 0.5, customers_per_week=1000)
    assert weeks is not None and 5.1 <= weeks <= 5.11
    assert stats.weeks_to_detect(0.02, 0.06, 0.5, customers_per_week=0) is None
    # A small holdout needs more customers for the same difference.
    assert stats.customers_needed(0.02, 0.06, 0.1) > stats.customers_needed(0.02, 0.06, 0.5)


def test_sample_ratio_mismatch() -> None:
    # 60 vs 40 against 50/50: chi-square = 2 * 10^2 / 50 = 4.0 on 1 df, p = 2(1 - Phi(2)).
    check = stats.sample_ratio_mismatch([60, 40], [0.5, 0.5])
    assert check is not None
    assert check.chi_square == pytest.approx(4.0)
    assert check.p_value == pytest.approx(0.0455, abs=1e-4)
    assert not check.mismatch
    # 821,588 vs 815,482 against 50/50: chi-square = 2 * 3053^2 / 818,535 = 22.77.
    big = stats.sample_ratio_mismatch([821_588, 815_482], [1, 1])
    assert big is not None and big.mismatch and big.chi_square == pytest.approx(22.775, abs=1e-3)
    # 8000 vs 2000 is exactly the 80/20 split configured.
    assert stats.sample_ratio_mismatch([8000, 2000], [0.8, 0.2]).chi_square == 0  # type: ignore[union-attr]
    assert stats.sample_ratio_mismatch([0, 0], [0.8, 0.2]) is None
    assert stats.sample_ratio_mismatch([10, 0], [1.0, 0.0]) is None


UP = stats.Difference(0.04, 0.01, 0.07, 0.95, "x")
DOWN = stats.Difference(-0.04, -0.07, -0.01, 0.95, "x")
FLAT = stats.Difference(0.01, -0.02, 0.04, 0.95, "x")
TODAY = date(2026, 12, 1)


@pytest.mark.parametrize(("uplift", "arms", "readout", "higher", "expected"), [
    (UP, [(99, 20), (500, 20)], date(2026, 11, 1), True, "insufficient data"),
    (UP, [(100, 4), (500, 20)], date(2026, 11, 1), True, "insufficient data"),
    (None, [(100, 20), (500, 20)], date(2026, 11, 1), True, "insufficient data"),
    (UP, [(100, 5), (500, 20)], date(2026, 12, 2), True, "preliminary"),
    (UP, [(100, 5), (500, 20)], None, True, "preliminary"),
    (UP, [(100, 5), (500, 20)], TODAY, True, "better"),
    (DOWN, [(100, 5), (500, 20)], TODAY, True, "worse"),
    (FLAT, [(100, 5), (500, 20)], TODAY, True, "no difference detected"),
    (DOWN, [(100, 5), (500, 20)], TODAY, False, "better"),   # fewer contacts
    (UP, [(100, 5), (500, 20)], TODAY, False, "worse"),
])
def test_verdict_rules(uplift, arms, readout, higher, expected) -> None:
    assert stats.verdict(uplift, arms=arms, min_customers=100, min_events=5,
                         readout=readout, today=TODAY, higher_is_better=higher) == expected
