"""Fit a :class:`~.model.TransitModel` from parcels' histories. Pure: no database, no clock.

Every moving stay of every parcel (:func:`~.observe.stays`) is an observation of the
remaining time to delivery, delivered or censored; it counts for each silence ``g`` of
the grid it outlasted without a newer scan, in each of its segments (narrow to wide).
One Kaplan–Meier curve is fitted per (segment, status, silence) with enough observations.

    model = fit_model(parcels, settings=FitSettings(), as_of=now)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from notifier.domain import OrderSnapshot, ShipmentSnapshot
from notifier.transit.curves import Curve, fit_curve
from notifier.transit.model import FitSettings, TransitModel, curve_key
from notifier.transit.observe import segmenter_for, stays

Parcel = tuple[ShipmentSnapshot, OrderSnapshot | None]


def fit_model(parcels: Iterable[Parcel], *, settings: FitSettings, as_of: datetime,
              trained_from: datetime | None = None) -> TransitModel:
    """The model as the parcels' histories stood at ``as_of`` (later events are unseen)."""
    clock = settings.clock
    segmenter = segmenter_for(settings)
    grid = settings.grid()
    samples: dict[str, tuple[list[float], list[bool]]] = defaultdict(lambda: ([], []))
    count = 0
    first: datetime | None = None
    carriers: set[str] = set()
    for shipment, order in parcels:
        found = stays(shipment, order, as_of, clock, segmenter)
        if not found:
            continue
        count += 1
        start = found[0].position.since
        first = start if first is None or start < first else first
        carriers.add(found[0].position.carrier)
        for stay in found:
            p = stay.position
            for g in grid:
                # Still silent at g is known only if the stay lasted past it (a censored
                # silence shorter than g says nothing about g).
                if stay.silent <= g:
                    break
                for carrier, service, region in p.segments():
                    durations, delivered = samples[curve_key(carrier, service, region,
                                                             p.status, g)]
                    durations.append(stay.remaining)
                    delivered.append(stay.delivered)
    curves: dict[str, Curve] = {}
    for key, (durations, delivered) in samples.items():
        segment, silence = key.rsplit("|", 1)
        at_scan = samples.get(f"{segment}|0", ([], []))[0]
        # A segment too small at the scan itself has no curves at all (the wider one
        # speaks); within a segment big enough, a silence needs a few observations.
        if len(at_scan) < settings.min_observations:
            continue
        if silence != "0" and len(durations) < settings.min_silent_observations:
            continue
        if (curve := fit_curve(durations, delivered)) is not None:
            curves[key] = curve
    return TransitModel(settings=settings, curves=curves, fitted_at=as_of,
                        trained_from=trained_from or first or as_of, trained_to=as_of,
                        parcels=count, carriers=tuple(sorted(carriers)))
