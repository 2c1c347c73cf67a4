"""A transit model fitted once on the synthetic history, and a way to store it."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from notifier.runtime import Runtime
from notifier.store.db import transaction
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
