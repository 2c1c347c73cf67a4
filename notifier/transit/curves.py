"""Survival curves of the time a parcel still needs, fitted by Kaplan–Meier.

A parcel still on its way when the model is fitted is a *right-censored* observation: it
took at least so long. Dropping it would keep only the quick parcels and make the
carrier look faster than it is; counting it as delivered "now" would do the same. The
Kaplan–Meier estimator (``scipy.stats.ecdf`` on ``CensoredData``) uses it for exactly what
is known.

    curve = fit_curve([12.0, 30.5, 18.0], [True, False, True])
    curve.survival(20.0)   # P(still not delivered 20 business hours on)
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Curve:
    """A right-continuous step survival function S(t) = P(T > t), t in business hours.

    ``times`` are the moments S steps down (ascending), ``survival`` its value from each
    of them on; before the first, S is 1. ``n`` is how many observations it was fitted on
    and ``events`` how many of them were deliveries (the rest were censored).
    """

    times: tuple[float, ...]
    survival: tuple[float, ...]
    n: int
    events: int

    def survival_at(self, t: float) -> float:
        i = bisect_right(self.times, t)
        return 1.0 if i == 0 else self.survival[i - 1]

    def first_below(self, level: float, *, after: float = 0.0) -> float | None:
        """The earliest ``t >= after`` with S(t) <= ``level``; None if S never gets there."""
        if self.survival_at(after) <= level:
            return after
        i = bisect_right(self.times, after)
        for t, s in zip(self.times[i:], self.survival[i:], strict=True):
            if s <= level:
                return t
        return None

    def quantile(self, p: float) -> float | None:
        """The time by which a share ``p`` was delivered (median: 0.5); None beyond the data."""
        return self.first_below(1.0 - p)

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "events": self.events, "t": list(self.times),
                "s": list(self.survival)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Curve:
        return cls(tuple(float(t) for t in data["t"]), tuple(float(s) for s in data["s"]),
                   int(data["n"]), int(data["events"]))


def fit_curve(durations: Sequence[float], delivered: Sequence[bool], *,
              resolution: float = 0.25) -> Curve | None:
    """Kaplan–Meier fit; None without a single delivery to learn from.

    Durations are rounded to ``resolution`` business hours first, which keeps a stored
    curve small without changing what it says at the scale a promise is kept.
    """
    if len(durations) != len(delivered):
        raise ValueError("durations and delivered differ in length")
    seen = [round(max(d, 0.0) / resolution) * resolution
            for d, ok in zip(durations, delivered, strict=True) if ok]
    if not seen:
        return None
    censored = [round(max(d, 0.0) / resolution) * resolution
                for d, ok in zip(durations, delivered, strict=True) if not ok]
    # Imported here: scipy.stats costs a process ~70 MB, and workers only evaluate curves.
    from scipy.stats import CensoredData, ecdf

    sf = ecdf(CensoredData(uncensored=seen, right=censored)).sf
    times: list[float] = []
    values: list[float] = []
    last = 1.0
    for t, s in zip(sf.quantiles, sf.probabilities, strict=True):
        s = round(float(s), 5)
        if s < last:  # censoring times do not move S; keep only the steps
            times.append(float(t))
            values.append(s)
            last = s
    return Curve(tuple(times), tuple(values), n=len(durations), events=len(seen))
