"""The at-risk prediction on the synthetic history: trained on four months, backtested on
the fifth (figures, not timings: the bench prints them too, bench/transit.py)."""

from __future__ import annotations

from datetime import date, datetime

from notifier.transit.backtest import backtest
from notifier.transit.fit import fit_model
from notifier.transit.model import FitSettings, Position

from .synthetic import REMOTE, SLOW, WARSAW, generate

START = date(2026, 2, 2)
CUT = datetime(2026, 6, 1, tzinfo=WARSAW)
END = datetime(2026, 7, 1, tzinfo=WARSAW)


def test_precision_recall_and_lead_time_at_the_default_threshold() -> None:
    history = generate(start=START, days=150, per_day=40, seed=19, until=END)
    model = fit_model([p for p in history if p[0].shipped_at < CUT],  # type: ignore[operator]
                      settings=FitSettings(), as_of=CUT)
    result = backtest(history, model, start=CUT, end=END, threshold=0.6)
    total = result.total
    assert total.parcels > 700 and total.late >= 10
    assert total.precision is not None and total.precision >= 0.8
    assert total.recall is not None and total.recall >= 0.6
    assert total.median_lead_hours is not None and total.median_lead_hours >= 24.0
    # The slow tail is where the lateness is, and where the warnings go.
    assert result.by_carrier[SLOW].late >= 0.8 * total.late


def test_the_remote_segment_has_its_own_curve_and_a_small_one_falls_back() -> None:
    history = generate(start=START, days=120, per_day=40, seed=3)
    model = fit_model(history, settings=FitSettings(min_observations=30), as_of=END)
    at = datetime(2026, 6, 5, 12, tzinfo=WARSAW)
    remote = Position(SLOW, "kurier", f"PL-{REMOTE[:2]}", "in_transit", at)
    key, _ = model.curve(remote, 0.0)  # type: ignore[misc]
    assert key == f"{SLOW}|kurier|PL-38|in_transit|0"
    tiny = Position(SLOW, "kurier", "PL-99", "in_transit", at)  # no parcel ever went there
    key, _ = model.curve(tiny, 0.0)  # type: ignore[misc]
    assert key == f"{SLOW}|*|*|in_transit|0"
    assert model.curve(Position("nobody", "-", "PL", "in_transit", at), 0.0) is None
