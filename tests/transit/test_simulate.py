"""`notifier rules simulate` shows what shipment.at_risk would have sent over stored history."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from notifier.cli import app
from notifier.runtime import Runtime
from notifier.transit.model import TransitModel
from tests.engine.conftest import notifications, put

from .conftest import config_for, store
from .test_at_risk import HANDED, HUB, PROMISE, crossing, order, parcel


def seed(runtime: Runtime, model: TransitModel) -> None:
    due = crossing(model)
    # 1: silent at the hub past the crossing, then late: warned.
    put(runtime, "order", order("1"), now=HANDED)
    put(runtime, "shipment", parcel("1", (HANDED, "in_transit"), (HUB, "in_transit"),
                                    (PROMISE + timedelta(hours=10), "out_for_delivery"),
                                    (PROMISE + timedelta(hours=12), "delivered")),
        now=PROMISE + timedelta(hours=12))
    # 2: out for delivery and delivered before the crossing: never warned.
    put(runtime, "order", order("2"), now=HANDED)
    put(runtime, "shipment", parcel("2", (HANDED, "in_transit"), (HUB, "in_transit"),
                                    (due - timedelta(hours=3), "out_for_delivery"),
                                    (due - timedelta(hours=1), "delivered")), now=due)
    # 3: another region with a reliable history: not at risk at the same silence.
    put(runtime, "order", order("3", ship_postcode="00-950"), now=HANDED)
    put(runtime, "shipment", parcel("3", (HANDED, "in_transit"), (HUB, "in_transit"),
                                    (due + timedelta(hours=1), "out_for_delivery")),
        now=due + timedelta(hours=1))


def test_simulate_shows_what_at_risk_would_have_sent(runtime: Runtime, tmp_path: Path,
                                                     fitted: TransitModel) -> None:
    store(runtime, fitted)
    seed(runtime, fitted)
    config = config_for(runtime, tmp_path)
    result = CliRunner().invoke(app, ["--config", str(config), "rules", "simulate",
                                      "--from", "2026-12-03", "--to", "2026-12-12",
                                      "--rule", "shipment-at-risk"])
    assert result.exit_code == 0, result.output
    assert "shipment-at-risk step 1 [shipment_at_risk]: 1 messages (email=1)" in result.output
    due = crossing(fitted)
    assert f"anna@example.pl (email, due {due.isoformat()})" in result.output
    assert notifications(runtime) == []  # nothing written
