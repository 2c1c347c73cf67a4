"""How good ``shipment.at_risk`` would have been: a backtest on parcels the model never saw.

Train on the parcels before ``start`` (as things stood at ``start``), then replay every
parcel handed over in ``[start, end)`` through the real triggers
(:func:`first_firing`, on :func:`~notifier.detect.history.facts_as_of`): when at-risk
would have fired and when ``shipment.late`` would have. A parcel is *late* when it was
delivered after its promise (or was still not delivered at ``end``, past its promise).

* precision: of the parcels at-risk flagged, the share that were late;
* recall: of the late parcels, the share at-risk flagged before the promise;
* lead time: business hours from at-risk's warning to the moment ``shipment.late`` would
  have fired, median over the late parcels both flagged.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from notifier.detect.history import facts_as_of
from notifier.detect.triggers import (
    TRIGGERS,
    Params,
    ShipmentAtRiskParams,
    ShipmentLateParams,
    Trigger,
)
from notifier.domain import Facts
from notifier.transit.fit import Parcel
from notifier.transit.model import TransitModel, normalise
from notifier.transit.observe import delivered_moment


def first_firing(trigger: Trigger[Any], params: Params, facts: Facts, *, start: datetime,
                 end: datetime) -> datetime | None:
    """The first moment in ``[start, end)`` the trigger's anchor came while the facts
    still stood as they were when it was computed (the scan looks again at each change)."""
    moments = {start}
    for snap in (facts.order, facts.shipment):
        if snap is None:
            continue
        moments.update(v for v in vars(snap).values()
                       if isinstance(v, datetime) and start < v < end)
        moments.update(e.at for e in getattr(snap, "events", ()) if start < e.at < end)
    ordered = sorted(moments)
    for i, moment in enumerate(ordered):
        following = ordered[i + 1] if i + 1 < len(ordered) else end
        anchor = trigger.anchor(facts_as_of(facts, moment), params, moment)
        if anchor is None or anchor >= following:
            continue
        at = max(anchor, moment)
        if trigger.anchor(facts_as_of(facts, at), params, at) is not None:
            return at
    return None


@dataclass
class Figures:
    """Backtest counts and the derived quality figures (None where undefined)."""

    parcels: int = 0
    late: int = 0
    flagged: int = 0
    flagged_late: int = 0
    lead_hours: list[float] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return self.flagged_late / self.flagged if self.flagged else None

    @property
    def recall(self) -> float | None:
        return self.flagged_late / self.late if self.late else None

    @property
    def median_lead_hours(self) -> float | None:
        return statistics.median(self.lead_hours) if self.lead_hours else None

    def as_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 3)

        return {"parcels": self.parcels, "late": self.late, "flagged": self.flagged,
                "flagged_late": self.flagged_late, "precision": r(self.precision),
                "recall": r(self.recall), "median_lead_hours": r(self.median_lead_hours)}


@dataclass
class Backtest:
    threshold: float
    start: datetime
    end: datetime
    model_parcels: int
    total: Figures = field(default_factory=Figures)
    by_carrier: dict[str, Figures] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "from": self.start.astimezone(UTC).isoformat(),
                "to": self.end.astimezone(UTC).isoformat(), "trained_on": self.model_parcels,
                **self.total.as_dict(),
                "carriers": {c: f.as_dict() for c, f in sorted(self.by_carrier.items())}}


def backtest(parcels: Iterable[Parcel], model: TransitModel, *, start: datetime,
             end: datetime, threshold: float = 0.6) -> Backtest:
    """Replay the parcels handed over in ``[start, end)`` with ``model`` (fitted at
    ``start``) through ``shipment.at_risk`` and ``shipment.late``."""
    at_risk, late = TRIGGERS["shipment.at_risk"], TRIGGERS["shipment.late"]
    risk_params = ShipmentAtRiskParams(threshold=threshold)
    late_params = ShipmentLateParams()
    clock = model.clock
    result = Backtest(threshold, start, end, model.parcels)
    for shipment, order in parcels:
        shipped = shipment.shipped_at
        promise = order.deliver_by if order else None
        if shipped is None or promise is None or not start <= shipped < end:
            continue
        delivered = delivered_moment(shipment, order, end)
        if delivered is None and end <= promise:
            continue  # not known yet whether it will be late
        was_late = (delivered or end) > promise
        facts = Facts(order=order, shipment=shipment, transit=model)
        warned = first_firing(at_risk, risk_params, facts, start=shipped, end=end)
        figures = result.by_carrier.setdefault(normalise(shipment.carrier), Figures())
        for f in (result.total, figures):
            f.parcels += 1
            f.late += was_late
            f.flagged += warned is not None
            f.flagged_late += warned is not None and was_late
        if warned is not None and was_late:
            told = first_firing(late, late_params, facts, start=shipped, end=end)
            if told is not None:
                lead = clock.hours(warned, told)
                result.total.lead_hours.append(lead)
                figures.lead_hours.append(lead)
    return result
