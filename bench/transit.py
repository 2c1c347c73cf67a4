"""The at-risk prediction's quality on the synthetic two-carrier history, and fit cost.

    .venv/bin/python bench/transit.py                 # seed 19, 40 parcels a business day
    .venv/bin/python bench/transit.py --seeds 1 2 3   # several histories

For each seed: five months of parcels (tests/transit/synthetic.py: a reliable carrier and
one with a slow tail for Friday hand-overs to the remote 38-xxx region), a model fitted as
things stood on 1 June (trained on February-May, parcels still travelling censored), then
June replayed through shipment.at_risk and shipment.late. Prints precision, recall and the
median lead time over shipment.late in business hours at the default threshold (0.6), the
fit and backtest wall-clock times, and ends with ONE JSON line. Nothing is asserted (the
quality figures are asserted by tests/transit/test_quality.py; timings never are).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from notifier.transit.backtest import backtest
from notifier.transit.fit import fit_model
from notifier.transit.model import FitSettings
from tests.transit.synthetic import WARSAW, generate

CUT = datetime(2026, 6, 1, tzinfo=WARSAW)
END = datetime(2026, 7, 1, tzinfo=WARSAW)


def run(seed: int, per_day: int, threshold: float) -> dict[str, object]:
    history = generate(start=date(2026, 2, 2), days=150, per_day=per_day, seed=seed,
                       until=END)
    started = time.perf_counter()
    model = fit_model([p for p in history if p[0].shipped_at < CUT],  # type: ignore[operator]
                      settings=FitSettings(), as_of=CUT)
    fitted = time.perf_counter()
    result = backtest(history, model, start=CUT, end=END, threshold=threshold)
    replayed = time.perf_counter()
    figures = result.total.as_dict()
    print(f"seed {seed}: trained on {model.parcels} parcels ({len(model.curves)} curves, "
          f"fit {fitted - started:.2f} s); June: {figures['parcels']} parcels, "
          f"{figures['late']} late, {figures['flagged']} flagged -> precision "
          f"{figures['precision']}, recall {figures['recall']}, median lead "
          f"{figures['median_lead_hours']} business h (backtest {replayed - fitted:.2f} s)")
    return {"seed": seed, **figures, "curves": len(model.curves),
            "fit_s": round(fitted - started, 3), "backtest_s": round(replayed - fitted, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[19])
    parser.add_argument("--per-day", type=int, default=40)
    parser.add_argument("--threshold", type=float, default=0.6)
    args = parser.parse_args()
    runs = [run(seed, args.per_day, args.threshold) for seed in args.seeds]

    def worst(name: str) -> float | None:
        values = [r[name] for r in runs if r[name] is not None]
        return min(values) if values else None  # type: ignore[type-var,return-value]

    summary = {"bench": "transit", "threshold": args.threshold, "seeds": args.seeds,
               "per_day": args.per_day, "runs": runs,
               "min_precision": worst("precision"), "min_recall": worst("recall"),
               "min_median_lead_hours": worst("median_lead_hours"),
               "median_fit_s": statistics.median(r["fit_s"] for r in runs),  # type: ignore[misc]
               "note": "timings measured on a shared 2-core machine under contention"}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
