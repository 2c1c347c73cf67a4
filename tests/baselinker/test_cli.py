"""``notifier baselinker sync|poll|status`` against the local fake API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from notifier.config import Settings
from notifier.connectors.baselinker_cli import build_baselinker_cli, parse_since
from notifier.runtime import Runtime
from tests.baselinker.conftest import T0, stored
from tests.fakes.baselinker import FakeBaseLinker, history, order, package, ts


def test_sync_poll_and_status(settings: Settings, runtime: Runtime, bl: FakeBaseLinker) -> None:
    for n in range(3):
        confirmed = T0 - timedelta(days=20 - n)
        bl.add_order(order(4000 + n, confirmed_at=confirmed), journal=False)
        bl.add_package(4000 + n, package(8000 + n, status=2), [history(2, confirmed)],
                       journal=False)
    bl.add_order(order(3999, confirmed_at=T0 - timedelta(days=40)), journal=False)
    cli = build_baselinker_cli(lambda: settings)
    runner = CliRunner()

    synced = runner.invoke(cli, ["sync", "--since", "2026-11-01"])
    assert synced.exit_code == 0, synced.output
    assert "re-synced orders 3" in synced.output
    assert stored(runtime)["orders"] == 3 and stored(runtime)["shipments"] == 3
    midnight_in_warsaw = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    assert bl.calls("getOrders")[0]["date_confirmed_from"] == ts(midnight_in_warsaw)

    polled = runner.invoke(cli, ["poll"])
    assert polled.exit_code == 0, polled.output
    assert polled.output.startswith("ok: position")

    status = runner.invoke(cli, ["status"])
    health = json.loads(status.output)
    assert (health["name"], health["enabled"], health["healthy"]) == ("baselinker", True, True)
    assert health["resync_reason"] == "sync since 2026-11-01T00:00:00+01:00"


def test_failed_poll_exits_non_zero(settings: Settings, bl: FakeBaseLinker) -> None:
    bl.script(*[FakeBaseLinker.error("ERROR_BAD_TOKEN", "Invalid user token")] * 3)
    result = CliRunner().invoke(build_baselinker_cli(lambda: settings), ["poll"])
    assert result.exit_code == 1
    assert "[ERROR_BAD_TOKEN] Invalid user token" in result.output


def test_since_parsing() -> None:
    assert parse_since("2026-11-01", timezone="Europe/Warsaw").isoformat() == (
        "2026-11-01T00:00:00+01:00")
    assert parse_since("2026-11-01T06:00:00+00:00", timezone="UTC").hour == 6
    with pytest.raises(Exception, match="timezone offset"):
        parse_since("2026-11-01T06:00:00", timezone="UTC")
