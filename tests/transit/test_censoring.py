"""Censoring: parcels still on their way count for what is known of them.

Parcels are handed over evenly through a 5-day window and the curve is fitted at its
end, so those handed over late are mostly still travelling. Their true transit time is
known to the test (12 h plus a Weibull tail). Dropping them keeps mostly quick parcels
and makes the carrier look faster; the Kaplan–Meier curve must match the truth.
"""

from __future__ import annotations

import math
import random

from notifier.transit.curves import fit_curve

TOLERANCE = 0.03  # sup |S_fitted - S_true| over the range where S_true >= 0.05, n = 6000


def true_sf(t: float) -> float:
    return 1.0 if t < 12 else math.exp(-(((t - 12) / 30.0) ** 1.5))


def sample(n: int, seed: int) -> tuple[list[float], list[bool], list[float]]:
    rng = random.Random(seed)
    window = 120.0
    durations, delivered, truth = [], [], []
    for _ in range(n):
        handed = rng.uniform(0, window)
        transit = 12 + 30.0 * rng.weibullvariate(1.0, 1.5)
        seen = window - handed
        truth.append(transit)
        durations.append(min(transit, seen))
        delivered.append(transit <= seen)
    return durations, delivered, truth


def sup_error(sf, grid: list[float]) -> float:  # type: ignore[no-untyped-def]
    return max(abs(sf(t) - true_sf(t)) for t in grid)


def test_kaplan_meier_matches_the_true_distribution_where_dropping_censored_does_not() -> None:
    durations, delivered, _ = sample(6000, seed=5)
    assert sum(not d for d in delivered) / len(delivered) > 0.15  # censoring is substantial
    grid = [t / 2 for t in range(0, 400) if true_sf(t / 2) >= 0.05]
    fitted = fit_curve(durations, delivered)
    assert fitted is not None and fitted.events == sum(delivered)
    naive = fit_curve([d for d, ok in zip(durations, delivered, strict=True) if ok],
                      [True] * sum(delivered))
    assert naive is not None
    assert sup_error(fitted.survival_at, grid) <= TOLERANCE
    assert sup_error(naive.survival_at, grid) > 3 * TOLERANCE  # the bias this avoids
    median = fitted.quantile(0.5)
    true_median = 12 + 30.0 * math.log(2) ** (1 / 1.5)
    assert median is not None and abs(median - true_median) < 1.5


def test_no_delivery_no_curve() -> None:
    assert fit_curve([5.0, 8.0], [False, False]) is None
