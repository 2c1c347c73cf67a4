"""``notifier report`` and ``/v1/reports/*`` give the same report in every format."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from notifier.app import create_app
from notifier.config import Settings
from notifier.reports.commands import add_report_command
from notifier.runtime import Runtime, create_runtime
from notifier.store.tables import Notification
from tests.conftest import make_settings
from tests.reports.history import cart_rule, cart_rule_text, plant

AUTH = {"Authorization": "Bearer test-key"}
NOW = "2027-01-15T12:00:00+00:00"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "cart-test.toml").write_text(cart_rule_text(holdout=20), encoding="utf-8")
    return folder


@pytest.fixture
def settings(tmp_path: Path, db_url: str, rules_dir: Path) -> Settings:
    return make_settings(tmp_path, database={"url": db_url},
                         paths={"data_dir": tmp_path / "var", "rules_dir": rules_dir},
                         reports={"readouts": {"cart-test": "2027-01-01"},
                                  "message_cost": {"sms": "0.07"}})


@pytest.fixture
def planted_runtime(settings: Settings) -> Runtime:
    from datetime import datetime

    from notifier.clock import FrozenClock

    runtime = create_runtime(settings, clock=FrozenClock(datetime.fromisoformat(NOW)))
    plant(runtime, cart_rule(holdout=20), carts=1500, rates={"treated": 0.12, "holdout": 0.08})
    yield runtime
    runtime.close()


@pytest.fixture
async def client(planted_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(planted_runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def cli(settings: Settings, *args: str) -> str:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    add_report_command(app, lambda: settings)
    result = CliRunner().invoke(app, ["report", "--now", NOW, *args])
    assert result.exit_code == 0, result.output
    return result.output


async def test_cli_and_api_agree(client: httpx.AsyncClient, settings: Settings) -> None:
    query = {"from": "2026-11-01T00:00:00+00:00", "to": "2026-12-01T00:00:00+00:00"}
    answer = await client.get("/v1/reports/rules", params=query, headers=AUTH)
    assert answer.status_code == 200, answer.text
    api = answer.json()
    printed = json.loads(cli(settings, "--from", query["from"], "--to", query["to"],
                             "--format", "json"))
    assert printed == api
    assert api["from"] == query["from"] and api["to"] == query["to"]
    (rule,) = api["rules"]
    for key in ("rule", "treated", "holdout", "converted_treated", "converted_holdout",
                "conversion_uplift", "revenue_treated", "revenue_holdout",
                "revenue_per_customer_uplift", "offers_issued", "offers_redeemed",
                "discount_cost", "message_cost", "net_value", "verdict", "steps"):
        assert key in rule
    assert set(rule["conversion_uplift"]) == {"difference", "low", "high", "confidence",
                                              "method"}
    assert {"difference", "low", "high"} <= set(rule["revenue_per_customer_uplift"])
    assert rule["holdout_share"] == 0.2 and rule["treated"] + rule["holdout"] == 1500

    table = cli(settings, "--from", query["from"], "--to", query["to"])
    assert "== cart-test" in table and f"{rule['treated']:>16}{rule['holdout']:>16}" in table
    assert f"verdict: {rule['verdict'].upper()}" in table
    # The operator names the difference to plan for; a smaller one needs longer.
    planned = json.loads(cli(settings, "--from", query["from"], "--to", query["to"],
                             "--format", "json", "--target", "0.01"))
    assert planned["rules"][0]["planner"]["target_difference"] == 0.01
    assert planned["rules"][0]["planner"]["weeks_to_target"] > rule["planner"]["weeks_to_target"]

    rows = list(csv.DictReader(io.StringIO(cli(settings, "--format", "csv", "--from",
                                               query["from"], "--to", query["to"]))))
    top = [r for r in rows if r["step"] == ""]
    assert len(top) == 1 and int(top[0]["treated"]) == rule["treated"]
    assert float(top[0]["conversion_uplift.low"]) == rule["conversion_uplift"]["low"]
    assert [int(r["step"]) for r in rows if r["step"] != ""] == [0, 1]


async def test_a_date_period_is_whole_days_in_the_shop_timezone(
        client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/reports/rules", headers=AUTH,
                              params={"from": "2026-11-01", "to": "2026-11-30"})
    body = answer.json()
    # Europe/Warsaw is UTC+1 in November: midnight there is 23:00 UTC the day before.
    assert (body["from"], body["to"]) == ("2026-10-31T23:00:00+00:00",
                                          "2026-11-30T23:00:00+00:00")


async def test_bad_bounds_and_missing_keys_are_refused(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/reports/rules", params={"from": "yesterday"}, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "from"]
    answer = await client.get("/v1/reports/daily", params={"to": "2026-11-01T00:00:00"},
                              headers=AUTH)
    assert answer.status_code == 422 and "offset" in answer.text
    assert (await client.get("/v1/reports/rules")).status_code == 401
    assert (await client.get("/v1/reports/daily")).status_code == 401


async def test_daily_counts(client: httpx.AsyncClient, planted_runtime: Runtime) -> None:
    # Days are the shop's (Europe/Warsaw): 1 and 2 November local, both whole.
    answer = await client.get("/v1/reports/daily", headers=AUTH, params={
        "from": "2026-11-01", "to": "2026-11-02"})
    assert answer.status_code == 200
    days = answer.json()["days"]
    assert {d["day"] for d in days} == {"2026-11-01", "2026-11-02"}
    assert set(days[0]) == {"day", "rule", "channel", "status", "count"}
    # 1500 carts over 30 days from 1 November 00:00 UTC (01:00 in Warsaw), each with a
    # first-step row: those detected until 2 November 23:00 UTC.
    first_steps = sum(d["count"] for d in days if d["status"] in ("delivered", "held_out"))
    with planted_runtime.sessions() as session:
        expected = session.execute(sa.select(sa.func.count()).select_from(Notification).where(
            Notification.step == 0,
            Notification.detected_at < datetime(2026, 11, 2, 23, tzinfo=UTC))).scalar()
    assert first_steps == expected == 1500 * 47 // (30 * 24) + 1
