"""``notifier carriers report`` and ``GET /v1/reports/carriers``: how the carriers do, and how
good the at-risk prediction would have been.

Per carrier, and per segment (carrier, service, destination region): parcels handed over
in the window, the share delivered by the promise, and the median and 90th percentile of
transit (hand-over to delivery) in business hours — Kaplan–Meier, so parcels still on
their way count as "at least this long" instead of being left out.

The backtest holds out the last ``transit.holdout_days``: a model fitted as things stood
when that period began (on the window before it) replays the period's parcels through
``shipment.at_risk`` and ``shipment.late`` (:mod:`.backtest`).

    report = carriers_report(runtime.sessions, settings, now=now, threshold=0.6)
    print(format_report(report)); report.as_dict()
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from notifier.config import Settings
from notifier.transit.backtest import Backtest, backtest
from notifier.transit.curves import fit_curve
from notifier.transit.fit import Parcel, fit_model
from notifier.transit.model import ANY, FitSettings
from notifier.transit.observe import delivered_moment, segmenter_for
from notifier.transit.service import fit_settings, load_model, stored_parcels


@dataclass
class SegmentStats:
    """One carrier's (``service``/``region`` ``*``: all of them) parcels in the window."""

    carrier: str
    service: str
    region: str
    parcels: int = 0
    delivered: int = 0
    promised: int = 0
    on_time: int = 0
    median_hours: float | None = None
    p90_hours: float | None = None

    @property
    def on_time_share(self) -> float | None:
        return self.on_time / self.promised if self.promised else None

    def as_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 3)

        return {"carrier": self.carrier, "service": self.service, "region": self.region,
                "parcels": self.parcels, "delivered": self.delivered,
                "on_time_share": r(self.on_time_share), "median_hours": r(self.median_hours),
                "p90_hours": r(self.p90_hours)}


@dataclass
class CarriersReport:
    start: datetime
    end: datetime
    segments: list[SegmentStats] = field(default_factory=list)
    backtest: Backtest | None = None
    model_version: int | None = None
    model_fitted_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"from": _utc(self.start), "to": _utc(self.end),
                "model": None if self.model_version is None else {
                    "version": self.model_version,
                    "fitted_at": _utc(self.model_fitted_at) if self.model_fitted_at else None},
                "segments": [s.as_dict() for s in self.segments],
                "backtest": self.backtest.as_dict() if self.backtest else None}


def segment_stats(parcels: Iterable[Parcel], *, settings: FitSettings,
                  now: datetime) -> list[SegmentStats]:
    """Per carrier (first, as ``* / *``) and per (carrier, service, region)."""
    clock, segmenter = settings.clock, segmenter_for(settings)
    groups: dict[tuple[str, str, str], list[tuple[float, bool, bool | None]]] = (
        defaultdict(list))
    for shipment, order in parcels:
        if shipment.shipped_at is None or shipment.shipped_at > now:
            continue
        p = segmenter.position(shipment, order, shipment.shipped_at, "")
        delivered = delivered_moment(shipment, order, now)
        hours = clock.hours(shipment.shipped_at, delivered or now)
        promise = order.deliver_by if order else None
        on_time: bool | None = None
        if promise is not None and (delivered is not None or now > promise):
            on_time = delivered is not None and delivered <= promise
        for key in ((p.carrier, ANY, ANY), (p.carrier, p.service, p.region)):
            groups[key].append((hours, delivered is not None, on_time))
    out: list[SegmentStats] = []
    for (carrier, service, region), rows in sorted(groups.items()):
        curve = fit_curve([h for h, _, _ in rows], [d for _, d, _ in rows])
        out.append(SegmentStats(
            carrier, service, region, parcels=len(rows), delivered=sum(d for _, d, _ in rows),
            promised=sum(t is not None for _, _, t in rows),
            on_time=sum(t is True for _, _, t in rows),
            median_hours=curve.quantile(0.5) if curve else None,
            p90_hours=curve.quantile(0.9) if curve else None))
    return out


def carriers_report(factory: sessionmaker[Session], settings: Settings, *, now: datetime,
                    threshold: float = 0.6) -> CarriersReport:
    now = now.astimezone(UTC)  # windows in exact days, whatever zone ``now`` came in
    t = settings.transit
    fs = fit_settings(settings)
    start = now - timedelta(days=t.window_days)
    held_from = now - timedelta(days=t.holdout_days)
    with factory() as session:
        parcels = list(stored_parcels(session, shipped_from=start - timedelta(
            days=t.holdout_days), shipped_to=now))
        current = load_model(session)
    report = CarriersReport(start, now, model_version=current.version if current else None,
                            model_fitted_at=current.fitted_at if current else None)
    report.segments = segment_stats(
        [p for p in parcels if p[0].shipped_at and p[0].shipped_at >= start],
        settings=fs, now=now)
    training = [p for p in parcels if p[0].shipped_at and p[0].shipped_at < held_from]
    if training:
        model = fit_model(training, settings=fs, as_of=held_from,
                          trained_from=held_from - timedelta(days=t.window_days))
        report.backtest = backtest(parcels, model, start=held_from, end=now,
                                   threshold=threshold)
    return report


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _h(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def format_report(report: CarriersReport) -> str:
    model = f"v{report.model_version}" if report.model_version else "none"
    lines = [f"carriers {report.start.isoformat()} .. {report.end.isoformat()}"
             f" (model in force: {model})",
             f"{'carrier':<16} {'service':<14} {'region':<8} {'parcels':>8} {'on time':>8} "
             f"{'median h':>9} {'p90 h':>7}"]
    for s in report.segments:
        lines.append(f"{s.carrier:<16} {s.service:<14} {s.region:<8} {s.parcels:>8} "
                     f"{_pct(s.on_time_share):>8} {_h(s.median_hours):>9} {_h(s.p90_hours):>7}")
    bt = report.backtest
    if bt is None:
        lines.append("backtest: no parcels before the held-out period")
        return "\n".join(lines)
    lines.append(f"backtest of shipment.at_risk at threshold {bt.threshold:g}, held out "
                 f"{bt.start.isoformat()} .. {bt.end.isoformat()} (trained on "
                 f"{bt.model_parcels} parcels before):")
    for name, f in [("all", bt.total), *sorted(bt.by_carrier.items())]:
        lines.append(f"  {name:<16} parcels {f.parcels}, late {f.late}, flagged {f.flagged}; "
                     f"precision {_pct(f.precision)}, recall {_pct(f.recall)}, "
                     f"median lead over shipment.late {_h(f.median_lead_hours)} business h")
    return "\n".join(lines)
