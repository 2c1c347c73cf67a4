"""prometheus_client's multiprocess mode: a tick in one process, ``/metrics`` scraped in
another, both pointed at the same ``PROMETHEUS_MULTIPROC_DIR``: the scrape shows the
tick's counters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.store.db import create_db_engine
from notifier.store.migrate import upgrade
from tests.conftest import REPO

RULE = """
name = "cart-mp"
trigger = "cart.abandoned"
purpose = "transactional"
channels = ["email"]
[params]
wait = "1h"
[[steps]]
delay = "0h"
template = "cart_reminder"
"""
SCRAPE = """
import asyncio, httpx
from notifier.app import create_app
from notifier.config import load_settings
from notifier.runtime import create_runtime
from pathlib import Path

async def main():
    runtime = create_runtime(load_settings(Path({config!r})))
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        print((await client.get("/metrics")).text)
    runtime.close()

asyncio.run(main())
"""


@pytest.mark.slow
def test_a_scrape_sees_another_processes_tick(tmp_path: Path) -> None:
    db = tmp_path / "notifier.db"
    engine = create_db_engine(f"sqlite:///{db}")
    upgrade(engine)
    engine.dispose()
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "cart-mp.toml").write_text(RULE, encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{db}"\n'
        f'[paths]\ndata_dir = "{tmp_path / "var"}"\nrules_dir = "{rules}"\n'
        f'templates_dir = "{REPO / "templates"}"\n', encoding="utf-8")
    # `import` stamps rows with the real clock: the carts were left 3 hours ago.
    now = datetime.now(UTC)
    records = tmp_path / "carts.jsonl"
    records.write_text("".join(json.dumps({
        "type": "cart", "external_id": f"K-{i}", "currency": "PLN", "value": "10.00",
        "last_activity_at": (now - timedelta(hours=3)).isoformat(),
        "customer": {"external_id": f"c-{i}", "email": f"c{i}@example.pl"}}) + "\n"
        for i in range(7)), encoding="utf-8")
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    notifier = [sys.executable, "-m", "notifier.cli", "--config", str(config)]

    def run(*args: str) -> str:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120,
                              cwd=REPO)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run(*notifier, "import", str(records))
    ticked = run(*notifier, "tick", "--now",
                 (now + timedelta(minutes=1)).isoformat())
    text = run(sys.executable, "-c", SCRAPE.format(config=str(config)))
    assert "'sent': 7" in ticked, ticked
    assert 'notifier_notifications_total{channel="email",rule="cart-mp",status="sent"} 7.0' \
        in text
    assert 'notifier_send_duration_seconds_count{channel="email"} 7.0' in text
    assert "notifier_outbox_due 0.0" in text
