"""A transit model fitted once on the synthetic history, and a way to store it."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from notifier.domain import OrderSnapshot, ShipmentSnapshot
from notifier.runtime import Runtime
from notifier.store.db import transaction
from notifier.store.tables import Order, Shipment
from notifier.store.transit_tables import add_model
from notifier.transit.fit import fit_model
from notifier.transit.model import FitSettings, TransitModel
from tests.engine.conftest import engine  # noqa: F401  (the engine fixture)

from .synthetic import WARSAW, generate

FITTED_AT = datetime(2026, 11, 2, tzinfo=WARSAW)


@pytest.fixture(scope="session")
def fitted() -> TransitModel:
    history = generate(start=date(2026, 6, 1), days=150, per_day=40, seed=11, until=FITTED_AT)
    return fit_model(history, settings=FitSettings(), as_of=FITTED_AT)


def store(runtime: Runtime, model: TransitModel) -> int:
    with transaction(runtime.sessions) as session:
        return add_model(session, model=model.to_json(), fitted_at=model.fitted_at,
                         trained_from=model.trained_from, trained_to=model.trained_to,
                         parcels=model.parcels, curves=len(model.curves))


def load(runtime: Runtime, parcels: list[tuple[ShipmentSnapshot, OrderSnapshot]]) -> None:
    """Store a synthetic history as rows (the store, not ingest: thousands of parcels)."""
    orders = Order.__table__  # type: ignore[attr-defined]
    shipments = Shipment.__table__  # type: ignore[attr-defined]
    with transaction(runtime.sessions) as session:
        session.execute(sa.insert(orders), [{
            "id": o.id, "source": "api", "external_id": o.external_id, "number": o.number,
            "status": o.status, "payment_status": o.payment_status, "currency": o.currency,
            "total": o.total, "items": [], "discount_codes": [],
            "shipping_method": o.shipping_method, "ship_country": o.ship_country,
            "ship_postcode": o.ship_postcode, "placed_at": o.placed_at,
            "deliver_by": o.deliver_by, "shipped_at": o.shipped_at,
            "delivered_at": o.delivered_at, "created_at": o.placed_at,
            "updated_at": o.placed_at} for _, o in parcels])
        session.execute(sa.insert(shipments), [{
            "id": s.id, "source": "api", "external_id": f"s{s.id}", "order_id": o.id,
            "carrier": s.carrier, "tracking_number": s.tracking_number, "status": s.status,
            "shipped_at": s.shipped_at, "delivered_at": s.delivered_at,
            "last_event_at": s.last_event_at,
            "events": [{"at": e.at.isoformat(), "status": e.status, "message": e.message}
                       for e in s.events],
            "created_at": s.shipped_at, "updated_at": s.last_event_at} for s, o in parcels])


def config_for(runtime: Runtime, tmp_path: Path) -> Path:
    config = tmp_path / "config.toml"
    s = runtime.settings
    config.write_text(
        f'[database]\nurl = "{s.database_url}"\n'
        f'[paths]\nrules_dir = "{s.paths.rules_dir}"\n'
        f'templates_dir = "{s.paths.templates_dir}"\n', encoding="utf-8")
    return config
