"""The statistics behind the reports: pure functions, no database, no clock.

Every interval here is two-sided at ``confidence`` (0.95 by default):

- :func:`wilson` — the Wilson score interval for one proportion (scipy's);
- :func:`newcombe` — the difference of two independent proportions with Newcombe's hybrid
  score interval (method 10 of Newcombe 1998, *Statistics in Medicine* 17:873-890), built
  by combining the two Wilson intervals; it behaves at small counts and at zero events,
  where the textbook Wald interval collapses;
- :func:`bootstrap_difference` — the difference of two means (revenue per customer, zeros
  included) with a percentile bootstrap interval, a fixed seed and a documented number of
  resamples (:data:`BOOTSTRAP_RESAMPLES`), so the same data always gives the same interval;
- :func:`detectable_difference` and :func:`weeks_to_detect` — the sample-size planner for a
  two-proportion z-test (80% power, α 0.05 two-sided by default);
- :func:`sample_ratio_mismatch` — a chi-square goodness-of-fit test of the observed split
  against the configured one (a mismatch at p < 0.001 means the assignment is broken and
  no uplift from it should be trusted);
- :func:`verdict` — what the report is allowed to say.

    >>> d = newcombe(56, 70, 48, 80)
    >>> round(d.difference, 4), round(d.low, 4), round(d.high, 4)
    (0.2, 0.0524, 0.3339)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np

# scipy is imported in the functions that use it: scipy.stats costs a process ~70 MB of
# memory, and an api or worker process that never computes a report need not pay it.

#: Resamples of the percentile bootstrap, and its seed: fixed, so a report is reproducible.
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20260101

#: The sample-ratio-mismatch threshold: below it the split is called broken.
SRM_P_VALUE = 0.001

Verdict = Literal["insufficient data", "preliminary", "better", "worse",
                  "no difference detected"]


@dataclass(frozen=True)
class Interval:
    """An estimate with its interval: ``low <= estimate <= high`` (bootstrap: usually)."""

    estimate: float
    low: float
    high: float
    confidence: float


@dataclass(frozen=True)
class Difference:
    """``treated - holdout`` with its interval and the method that made it."""

    difference: float
    low: float
    high: float
    confidence: float
    method: str

    def as_dict(self) -> dict[str, float | str]:
        return {"difference": self.difference, "low": self.low, "high": self.high,
                "confidence": self.confidence, "method": self.method}


def _check_counts(successes: int, n: int) -> None:
    if n <= 0:
        raise ValueError(f"a proportion needs at least one observation (n={n})")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in 0..{n}, got {successes}")


def wilson(successes: int, n: int, *, confidence: float = 0.95) -> Interval:
    """Wilson score interval (no continuity correction) for ``successes / n``."""
    from scipy import stats as sp

    _check_counts(successes, n)
    ci = sp.binomtest(successes, n).proportion_ci(confidence_level=confidence,
                                                   method="wilson")
    # Clamp rounding dust: 0 of n has a lower limit of exactly 0, n of n an upper of 1.
    low = 0.0 if successes == 0 else max(0.0, float(ci.low))
    high = 1.0 if successes == n else min(1.0, float(ci.high))
    return Interval(successes / n, low, high, confidence)


def newcombe(x1: int, n1: int, x2: int, n2: int, *, confidence: float = 0.95) -> Difference:
    """``x1/n1 - x2/n2`` with Newcombe's hybrid score interval (method 10).

    With Wilson limits ``(l1, u1)`` and ``(l2, u2)`` of each arm and ``d = p1 - p2``::

        low  = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)
        high = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)
    """
    a, b = wilson(x1, n1, confidence=confidence), wilson(x2, n2, confidence=confidence)
    d = a.estimate - b.estimate
    low = d - math.hypot(a.estimate - a.low, b.high - b.estimate)
    high = d + math.hypot(a.high - a.estimate, b.estimate - b.low)
    return Difference(d, max(-1.0, low), min(1.0, high), confidence, "newcombe-hybrid-score")


def bootstrap_difference(treated: Sequence[float] | np.ndarray,
                         holdout: Sequence[float] | np.ndarray, *,
                         confidence: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES,
                         seed: int = BOOTSTRAP_SEED) -> Difference:
    """``mean(treated) - mean(holdout)`` with a percentile bootstrap interval.

    Each arm is resampled with replacement on its own (the arms are independent samples);
    ``resamples`` and ``seed`` are fixed so the same data gives the same interval. Pass
    every assigned customer, zeros included: revenue per customer, not per buyer.
    """
    t, h = np.asarray(treated, dtype=float), np.asarray(holdout, dtype=float)
    if t.size < 2 or h.size < 2:
        raise ValueError("a bootstrap needs at least two observations in each arm")
    return bootstrap_sparse_difference(t, t.size, h, h.size,  # it drops the zeros
                                       confidence=confidence, resamples=resamples, seed=seed)


def bootstrap_sparse_difference(treated_nonzero: Sequence[float] | np.ndarray, n_treated: int,
                                holdout_nonzero: Sequence[float] | np.ndarray, n_holdout: int,
                                *, treated_counts: Sequence[int] | np.ndarray | None = None,
                                holdout_counts: Sequence[int] | np.ndarray | None = None,
                                confidence: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES,
                                seed: int = BOOTSTRAP_SEED) -> Difference:
    """:func:`bootstrap_difference` given only each arm's non-zero values and its size.

    Most assigned customers buy nothing, so a resample of ``n`` customers is drawn as
    ``m ~ Binomial(n, k/n)`` buyers (``k`` the non-zero values) and ``m`` draws from the
    buyers: the same distribution as resampling all ``n`` customers, in
    O(resamples x buyers) instead of O(resamples x customers), and when order totals
    repeat, O(resamples x distinct totals). ``scipy.stats.bootstrap``
    resamples every customer and took 4.3 s where this takes 0.6 s for 337,000 customers
    and 1,000 resamples; the tests check that both give the same interval.

    ``*_counts``, when given, say how many customers had each value (a histogram, as
    the reports read it). Each arm draws from its own stream of ``seed`` (numpy's
    ``SeedSequence.spawn``): an arm's resamples do not depend on the other arm's size.
    """
    if n_treated < 2 or n_holdout < 2:
        raise ValueError("a bootstrap needs at least two observations in each arm")
    t = _histogram(treated_nonzero, treated_counts)
    h = _histogram(holdout_nonzero, holdout_counts)
    point = float(t[0] @ t[1] / n_treated - h[0] @ h[1] / n_holdout)
    method = f"percentile-bootstrap ({resamples} resamples)"
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)]
    diffs = (_resampled_means(*t, n_treated, resamples, streams[0])
             - _resampled_means(*h, n_holdout, resamples, streams[1]))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return Difference(point, float(low), float(high), confidence, method)


def _histogram(values: Sequence[float] | np.ndarray,
               counts: Sequence[int] | np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Distinct non-zero values, ascending, and how many customers had each."""
    v = np.asarray(values, dtype=float)
    c = np.ones(v.size, dtype=np.int64) if counts is None else np.asarray(counts, np.int64)
    keep = v != 0
    distinct, where = np.unique(v[keep], return_inverse=True)
    return distinct, np.bincount(where, weights=c[keep], minlength=distinct.size
                                 ).astype(np.int64)


def _resampled_means(values: np.ndarray, weights: np.ndarray, n: int, resamples: int,
                     rng: np.random.Generator) -> np.ndarray:
    k = int(weights.sum())
    if k == 0:
        return np.zeros(resamples)
    buyers = rng.binomial(n, k / n, size=resamples)
    if values.size * 4 <= k:
        # Order totals repeat (the same basket, the same price): drawing how many times
        # each distinct value comes up costs O(distinct values) per resample, not O(buyers).
        return _multinomial_sums(values, weights / k, buyers, rng) / n
    nonzero = np.repeat(values, weights)
    sums = np.empty(resamples)
    per_batch = max(1, 4_000_000 // k)  # about 4M draws at a time: bounded memory
    for start in range(0, resamples, per_batch):
        counts = buyers[start:start + per_batch]
        draws = nonzero[rng.integers(0, k, size=int(counts.sum()))]
        edges = np.concatenate(([0], np.cumsum(counts)))
        running = np.concatenate(([0.0], np.cumsum(draws)))
        sums[start:start + per_batch] = running[edges[1:]] - running[edges[:-1]]
    return sums / n


def _multinomial_sums(values: np.ndarray, shares: np.ndarray, buyers: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    sums = np.empty(buyers.size)
    per_batch = max(1, 4_000_000 // values.size)
    for start in range(0, buyers.size, per_batch):
        counts = rng.multinomial(buyers[start:start + per_batch], shares)
        sums[start:start + per_batch] = counts @ values
    return sums


# --- planning ---------------------------------------------------------------------------


def power(difference: float, baseline: float, n_treated: int, n_holdout: int, *,
          alpha: float = 0.05) -> float:
    """Power of the two-sided two-proportion z-test (pooled variance under H0) to detect
    ``treated = baseline + difference`` with these arm sizes."""
    from scipy import special

    p2, p1 = baseline, baseline + difference
    if not (0 <= p2 <= 1 and 0 <= p1 <= 1) or n_treated <= 0 or n_holdout <= 0:
        raise ValueError("rates must lie in 0..1 and both arms be non-empty")
    # scipy.special's ndtri/ndtr are what norm.ppf/cdf compute, without the argument
    # checks that made the planner's hundreds of calls cost a third of a report.
    z = float(special.ndtri(1 - alpha / 2))
    pooled = (n_treated * p1 + n_holdout * p2) / (n_treated + n_holdout)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_treated + 1 / n_holdout))
    se1 = math.sqrt(p1 * (1 - p1) / n_treated + p2 * (1 - p2) / n_holdout)
    if se1 == 0:
        return 1.0 if abs(difference) > z * se0 else 0.0
    return float(special.ndtr((abs(difference) - z * se0) / se1))


def detectable_difference(baseline: float, n_treated: int, n_holdout: int, *,
                          power_target: float = 0.8, alpha: float = 0.05) -> float | None:
    """The smallest increase over ``baseline`` detected with ``power_target``; ``None``
    when even ``1 - baseline`` is not enough (or an arm is empty)."""
    from scipy import optimize

    if n_treated <= 0 or n_holdout <= 0 or not 0 <= baseline < 1:
        return None
    ceiling = 1 - baseline

    def gap(d: float) -> float:
        return power(d, baseline, n_treated, n_holdout, alpha=alpha) - power_target

    if gap(ceiling) < 0:
        return None
    return float(optimize.brentq(gap, 1e-9, ceiling, xtol=1e-10))


def customers_needed(difference: float, baseline: float, holdout_share: float, *,
                     power_target: float = 0.8, alpha: float = 0.05) -> int | None:
    """Customers (both arms) needed to detect ``difference`` at this holdout share."""
    if not 0 < holdout_share < 1 or difference <= 0 or not 0 <= baseline < 1:
        return None
    if baseline + difference > 1:
        return None

    def arms(total: int) -> tuple[int, int]:
        held = max(1, round(total * holdout_share))
        return max(1, total - held), held

    def enough(total: int) -> bool:
        return power(difference, baseline, *arms(total), alpha=alpha) >= power_target

    high = 4
    while not enough(high):
        high *= 2
        if high > 10**12:
            return None
    low = high // 2
    while low + 1 < high:  # the smallest total with enough power
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high


def weeks_to_detect(difference: float, baseline: float, holdout_share: float,
                    customers_per_week: float, *, power_target: float = 0.8,
                    alpha: float = 0.05) -> float | None:
    """Weeks of assignments at ``customers_per_week`` to detect ``difference``."""
    if customers_per_week <= 0:
        return None
    needed = customers_needed(difference, baseline, holdout_share,
                              power_target=power_target, alpha=alpha)
    return None if needed is None else needed / customers_per_week


# --- checks and verdicts ----------------------------------------------------------------


@dataclass(frozen=True)
class RatioCheck:
    """The observed split against the configured one."""

    chi_square: float
    p_value: float
    mismatch: bool


def sample_ratio_mismatch(observed: Sequence[int], expected_shares: Sequence[float], *,
                          threshold: float = SRM_P_VALUE) -> RatioCheck | None:
    """Chi-square goodness of fit of ``observed`` counts against ``expected_shares``
    (e.g. ``[treated, holdout]`` against ``[0.8, 0.2]``); ``None`` when untestable
    (no customers, or a group expected to be empty)."""
    from scipy import stats as sp

    total = sum(observed)
    if total == 0 or len(observed) != len(expected_shares) or len(observed) < 2:
        return None
    share_sum = sum(expected_shares)
    if any(s <= 0 for s in expected_shares) or share_sum <= 0:
        return None
    expected = [total * s / share_sum for s in expected_shares]
    result = sp.chisquare(list(observed), expected)
    p = float(result.pvalue)
    return RatioCheck(float(result.statistic), p, p < threshold)


def verdict(uplift: Difference | None, *, arms: Sequence[tuple[int, int]],
            min_customers: int, min_events: int, readout: date | None, today: date,
            higher_is_better: bool = True) -> Verdict:
    """What the report may say about ``uplift`` (treated - holdout).

    ``insufficient data`` until every arm in ``arms`` (``(customers, events)`` pairs) has
    ``min_customers`` customers and ``min_events`` events; ``preliminary`` before the
    planned ``readout`` date (or when none is planned: looking early and often finds
    effects that are not there); then ``better`` or ``worse`` when the interval excludes
    zero, else ``no difference detected``. ``higher_is_better`` is false for support
    contacts, where fewer is the improvement.
    """
    if uplift is None or any(n < min_customers or e < min_events for n, e in arms):
        return "insufficient data"
    if readout is None or today < readout:
        return "preliminary"
    if uplift.low > 0:
        return "better" if higher_is_better else "worse"
    if uplift.high < 0:
        return "worse" if higher_is_better else "better"
    return "no difference detected"
