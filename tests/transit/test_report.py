"""`notifier carriers report`, `carriers refit` and GET /v1/reports/carriers on a stored
synthetic history, on both backends: the same figures from the CLI and the API."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from notifier.app import create_app
from notifier.cli import app
from notifier.clock import FrozenClock
from notifier.pipeline import Engine, build_engine
from notifier.runtime import Runtime

from .conftest import config_for, load
from .synthetic import RELIABLE, SLOW, WARSAW, generate

NOW = datetime(2026, 7, 1, tzinfo=WARSAW)


def test_report_refit_and_api_agree(runtime: Runtime, clock: FrozenClock,
                                    tmp_path: Path) -> None:
    load(runtime, generate(start=date(2026, 2, 2), days=150, per_day=16, seed=4, until=NOW))
    config = config_for(runtime, tmp_path)
    cli = CliRunner()

    refit = cli.invoke(app, ["--config", str(config), "carriers", "refit",
                             "--now", NOW.isoformat()])
    assert refit.exit_code == 0, refit.output
    assert "transit model v1 stored" in refit.output

    shown = cli.invoke(app, ["--config", str(config), "carriers", "report",
                             "--now", NOW.isoformat(), "--json"])
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert body["model"]["version"] == 1
    segments = {(s["carrier"], s["service"], s["region"]): s for s in body["segments"]}
    reliable, slow = segments[(RELIABLE, "*", "*")], segments[(SLOW, "*", "*")]
    assert reliable["on_time_share"] > 0.99 and slow["on_time_share"] < reliable["on_time_share"]
    remote = segments[(SLOW, "kurier", "PL-38")]
    assert remote["on_time_share"] < 0.9 and remote["p90_hours"] > 60
    # The generator's reliable transit is 16-34 business hours (median about 25).
    assert 20 < reliable["median_hours"] < 30 and reliable["p90_hours"] < 34.5
    backtest = body["backtest"]
    assert backtest["late"] > 0 and backtest["flagged_late"] > 0
    assert backtest["precision"] is not None and backtest["recall"] is not None
    assert backtest["median_lead_hours"] > 0

    clock.set(NOW)
    api = TestClient(create_app(runtime)).get("/v1/reports/carriers",
                                              headers={"Authorization": "Bearer test-key"})
    assert api.status_code == 200
    assert api.json() == body
    assert TestClient(create_app(runtime)).get("/v1/reports/carriers").status_code == 401

    table = cli.invoke(app, ["--config", str(config), "carriers", "report",
                             "--now", NOW.isoformat()])
    assert "backtest of shipment.at_risk at threshold 0.6" in table.output
    assert f"{SLOW:<16} kurier         PL-38" in table.output


async def test_one_worker_refits_under_the_lease(runtime: Runtime) -> None:
    load(runtime, generate(start=date(2026, 5, 4), days=40, per_day=10, seed=2, until=NOW))
    first, second = (build_engine(runtime, owner="w1", channels={}),
                     build_engine(runtime, owner="w2", channels={}))
    try:
        assert await first.refit_transit(NOW) == 1
        assert await first.refit_transit(NOW, if_missing=True) is None  # start-up: one exists
        assert await second.refit_transit(NOW + timedelta(minutes=1)) is None  # lease held
        assert await first.refit_transit(NOW + timedelta(days=1)) == 2
        model = second.transit.current()
        assert model is not None and model.version == 2 and model.parcels > 0
    finally:
        await _close(first, second)


async def _close(*engines: Engine) -> None:
    for engine in engines:
        await engine.aclose()
