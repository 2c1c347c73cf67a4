"""``GET /metrics`` after ingest and a tick: every counter moved by exactly what happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from notifier.app import create_app
from notifier.clock import FrozenClock
from notifier.pipeline import build_engine
from notifier.runtime import create_runtime
from tests.conftest import REPO, make_settings

AUTH = {"Authorization": "Bearer test-key"}
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RULE = """
name = "cart-metrics"
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


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(data, name: str, **labels: str) -> float:  # type: ignore[no-untyped-def]
    return data.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_after_a_tick(tmp_path: Path, db_url: str) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "cart-metrics.toml").write_text(RULE, encoding="utf-8")
    settings = make_settings(tmp_path, database={"url": db_url},
                             paths={"data_dir": tmp_path / "var", "rules_dir": rules_dir,
                                    "templates_dir": REPO / "templates"})
    clock = FrozenClock(T0)
    runtime = create_runtime(settings, clock=clock)
    engine = build_engine(runtime, owner="metrics")
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)),
                               base_url="http://test")
    try:
        before = samples((await client.get("/metrics")).text)
        assert value(before, "notifier_build_info", version="0.1.0",
                     python=__import__("platform").python_version()) == 1
        for i in range(12):
            cart = {"external_id": f"K-{i}", "currency": "PLN", "value": "80.00",
                    "last_activity_at": T0.isoformat(),
                    "customer": {"external_id": f"c-{i}", "email": f"c{i}@example.pl"}}
            assert (await client.post("/v1/carts", json=cart, headers=AUTH)).status_code == 200
        bad = await client.post("/v1/carts", json={"external_id": "K-x"}, headers=AUTH)
        assert bad.status_code == 422

        # Before the tick the carts are not yet due: nothing waits in the outbox.
        mid = samples((await client.get("/metrics")).text)
        assert value(mid, "notifier_events_received_total", source="api", topic="carts",
                     outcome="applied") == 12
        assert value(mid, "notifier_events_received_total", source="api", topic="carts",
                     outcome="rejected") == 1
        assert value(mid, "notifier_outbox_due") == 0

        clock.set(T0 + timedelta(hours=2))
        result = await engine.run_due(T0 + timedelta(hours=2))
        held, sent = result.scan.created["held_out"], result.dispatched["sent"]
        assert held + sent == 12 and held and sent

        response = await client.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain")
        after = samples(response.text)
    finally:
        await client.aclose()
        await engine.aclose()
        runtime.close()

    rule = "cart-metrics"
    assert value(after, "notifier_notifications_total", rule=rule, channel="",
                 status="held_out") == held
    assert value(after, "notifier_notifications_total", rule=rule, channel="",
                 status="pending") == sent
    assert value(after, "notifier_notifications_total", rule=rule, channel="email",
                 status="sent") == sent
    assert value(after, "notifier_send_duration_seconds_count", channel="email") == sent
    assert value(after, "notifier_provider_errors_total", channel="email",
                 kind="permanent") == 0
    assert value(after, "notifier_outbox_due") == 0
    assert value(after, "notifier_scheduler_lag_seconds") == 0
    # No customer data in any label.
    assert not any("@" in v or v == "c-1" for (_, labels), _ in after.items()
                   for _, v in labels)
