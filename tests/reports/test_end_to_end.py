"""Carts in through the API, a rule with a holdout, a tick, orders in, the track job, then
``GET /v1/reports/rules`` and ``notifier report`` agree with each other and with what the
test planted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import typer
from sqlmodel import select
from typer.testing import CliRunner

from notifier.app import create_app
from notifier.clock import FrozenClock
from notifier.detect.rules import load_rules
from notifier.detect.sampling import assign
from notifier.pipeline import build_engine
from notifier.reports.commands import add_report_command
from notifier.runtime import create_runtime
from notifier.store.tables import Customer
from tests.conftest import REPO, make_settings

AUTH = {"Authorization": "Bearer test-key"}
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RULE = """
name = "cart-e2e"
trigger = "cart.abandoned"
purpose = "transactional"
channels = ["email"]
holdout = 50
[params]
wait = "1h"
[[steps]]
delay = "0h"
template = "cart_reminder"
"""
CARTS = 40


async def test_report_agrees_with_the_planted_history(tmp_path: Path, db_url: str) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "cart-e2e.toml").write_text(RULE, encoding="utf-8")
    settings = make_settings(
        tmp_path, database={"url": db_url},
        paths={"data_dir": tmp_path / "var", "rules_dir": rules_dir,
               "templates_dir": REPO / "templates"},
        reports={"min_customers": 5, "min_conversions": 1,
                 "readouts": {"cart-e2e": "2026-11-20"}})
    clock = FrozenClock(T0)
    runtime = create_runtime(settings, clock=clock)
    engine = build_engine(runtime, owner="e2e")
    transport = httpx.ASGITransport(app=create_app(runtime))
    client = httpx.AsyncClient(transport=transport, base_url="http://test")
    try:
        for i in range(CARTS):
            cart = {"external_id": f"K-{i}", "currency": "PLN", "value": "100.00",
                    "last_activity_at": T0.isoformat(),
                    "customer": {"external_id": f"c-{i}", "email": f"c{i}@example.pl",
                                 "first_name": "Ala", "locale": "pl"},
                    "items": [{"name": "Kubek", "quantity": 1, "price": "100.00"}]}
            answer = await client.post("/v1/carts", json=cart, headers=AUTH)
            assert answer.status_code == 200, answer.text

        clock.set(T0 + timedelta(hours=2))
        await engine.run_due(T0 + timedelta(hours=2))

        # Who is in which arm follows from the assignment function alone.
        rule = load_rules(rules_dir).get("cart-e2e")
        assert rule is not None
        with runtime.sessions() as session:
            ids = {c.external_id: c.id for c in session.exec(select(Customer)).all()}
        arm = {i: assign(rule, f"customer:{ids[f'c-{i}']}") for i in range(CARTS)}
        treated = [i for i in range(CARTS) if arm[i] == "treated"]
        holdout = [i for i in range(CARTS) if arm[i] == "holdout"]
        assert treated and holdout

        # Orders: every second treated customer and every third held-out one buys 3 h
        # after the reminder (inside the 5-day email window); one more buys too late.
        buyers = treated[::2] + holdout[::3]
        placed = T0 + timedelta(hours=5)
        for n, i in enumerate(buyers):
            total = Decimal("50.00") + n
            order = {"external_id": f"A-{i}", "currency": "PLN", "total": str(total),
                     "status": "confirmed", "placed_at": placed.isoformat(),
                     "customer": {"external_id": f"c-{i}", "email": f"c{i}@example.pl"}}
            assert (await client.post("/v1/orders", json=order, headers=AUTH)).status_code == 200
        late = next(i for i in treated if i not in buyers)
        assert (await client.post("/v1/orders", headers=AUTH, json={
            "external_id": "A-late", "currency": "PLN", "total": "999.00",
            "status": "confirmed", "placed_at": (T0 + timedelta(days=9)).isoformat(),
            "customer": {"external_id": f"c-{late}", "email": f"c{late}@example.pl"}})
        ).status_code == 200
        clock.set(T0 + timedelta(days=10))
        await engine.track(T0 + timedelta(days=10))

        clock.set(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
        period = {"from": "2026-11-01T00:00:00+00:00", "to": "2026-12-01T00:00:00+00:00"}
        answer = await client.get("/v1/reports/rules", headers=AUTH,
                                  params={**period, "rule": "cart-e2e"})
        assert answer.status_code == 200, answer.text
        api = answer.json()
    finally:
        await client.aclose()
        await engine.aclose()
        runtime.close()

    cli = typer.Typer()

    @cli.callback()
    def _root() -> None:
        pass

    add_report_command(cli, lambda: settings)
    result = CliRunner().invoke(cli, ["report", "--from", period["from"], "--to", period["to"],
                                      "--rule", "cart-e2e", "--format", "json",
                                      "--now", "2026-12-01T12:00:00+00:00"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == api

    (report,) = api["rules"]
    bought_t = [i for i in buyers if arm[i] == "treated"]
    bought_h = [i for i in buyers if arm[i] == "holdout"]
    revenue = {i: 50 + n for n, i in enumerate(buyers)}
    assert report["treated"] == len(treated) and report["holdout"] == len(holdout)
    assert report["converted_treated"] == len(bought_t)
    assert report["converted_holdout"] == len(bought_h)
    assert report["revenue_treated"] == sum(revenue[i] for i in bought_t)
    assert report["revenue_holdout"] == sum(revenue[i] for i in bought_h)
    assert report["sent"] == len(treated)
    expected = len(bought_t) / len(treated) - len(bought_h) / len(holdout)
    assert report["conversion_uplift"]["difference"] == round(expected, 4)
    assert report["recovered_carts"]["treated"]["carts"] == len(bought_t)
    assert report["recovered_carts"]["holdout"]["carts"] == len(bought_h)
    assert report["verdict"] in ("better", "worse", "no difference detected")
    assert report["steps"][0]["treated"] == len(treated)
