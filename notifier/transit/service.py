"""The transit model in the database: refit it from stored parcels, load the one in force.

    version = refit(runtime.sessions, settings, now=now)     # the daily job, under a lease
    model = ModelCache(runtime.sessions).current()          # newest version, cached

The refit reads every parcel handed over in the training window (``transit.window_days``
before ``now``) with its order, fits (:func:`~.fit.fit_model`) and stores a new version;
workers notice the new version on their next scan.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from notifier.config import Settings
from notifier.store.db import transaction
from notifier.store.snapshots import order_snapshot, shipment_snapshot
from notifier.store.tables import Order, Shipment
from notifier.store.transit_tables import add_model, latest_model, latest_version
from notifier.transit.fit import Parcel, fit_model
from notifier.transit.model import FitSettings, TransitModel

log = logging.getLogger(__name__)

#: The lease name of the refit job (singleton work: one worker refits).
LEASE = "transit-refit"


def fit_settings(settings: Settings) -> FitSettings:
    t = settings.transit
    return FitSettings(country=settings.shop.country, timezone=settings.shop.timezone,
                       region_digits=t.region_digits, step_hours=t.step_hours,
                       max_silence_hours=t.max_silence_hours,
                       min_observations=t.min_observations)


def stored_parcels(session: Session, *, shipped_from: datetime, shipped_to: datetime,
                   batch_size: int = 2000) -> Iterator[Parcel]:
    """Every parcel handed over in ``[shipped_from, shipped_to)``, with its order."""
    last_id = 0
    while True:
        rows = session.exec(
            select(Shipment).where(col(Shipment.id) > last_id,
                                   col(Shipment.shipped_at) >= shipped_from,
                                   col(Shipment.shipped_at) < shipped_to)
            .order_by(col(Shipment.id)).limit(batch_size)).all()
        if not rows:
            return
        last_id = rows[-1].id or last_id
        order_ids = {r.order_id for r in rows if r.order_id is not None}
        orders = {o.id: order_snapshot(o) for o in session.exec(
            select(Order).where(col(Order.id).in_(order_ids))).all()} if order_ids else {}
        for row in rows:
            yield shipment_snapshot(row), orders.get(row.order_id)


def refit(factory: sessionmaker[Session], settings: Settings, *, now: datetime) -> int | None:
    """Fit on the training window and store the model as a new version (None: no parcel)."""
    start = now - timedelta(days=settings.transit.window_days)
    with factory() as session:
        model = fit_model(stored_parcels(session, shipped_from=start, shipped_to=now),
                          settings=fit_settings(settings), as_of=now, trained_from=start)
    if not model.parcels:
        log.info("transit refit at %s: no parcels in the window, model kept", now.isoformat())
        return None
    with transaction(factory) as session:
        version = add_model(session, model=model.to_json(), fitted_at=now,
                            trained_from=start, trained_to=now, parcels=model.parcels,
                            curves=len(model.curves))
    log.info("transit model v%d fitted at %s: %d parcels, %d curves", version,
             now.isoformat(), model.parcels, len(model.curves))
    return version


def load_model(session: Session) -> TransitModel | None:
    row = latest_model(session)
    return None if row is None else TransitModel.from_json(row.model, version=row.version)


@dataclass
class ModelCache:
    """The newest stored model, re-read only when a newer version appears."""

    factory: sessionmaker[Session]
    _model: TransitModel | None = field(default=None, init=False)

    def current(self) -> TransitModel | None:
        with self.factory() as session:
            version = latest_version(session)
            if version is None:
                self._model = None
            elif self._model is None or self._model.version != version:
                self._model = load_model(session)
        return self._model
