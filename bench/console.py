"""Server time of the console's dashboard and deliveries pages at 1M stored notifications.

    .venv/bin/python bench/console.py                          # 1M, SQLite and PostgreSQL
    .venv/bin/python bench/console.py --database sqlite --rows 100000

Notifications are bulk-inserted spread over a year (about 2,700 a day) across six rules,
three channels and the usual mix of statuses. Each page is requested through the real
ASGI app (sign-in cookie, routing, queries, template) as a signed-in owner; the time is
measured around the request inside the process, so it is the server's time without a
network. The days before today are rolled up first (what the track job does; its time is
printed), today is counted live. Prints the median and p95 of several requests per page,
then one JSON line.
Nothing is asserted (the target is 300 ms per page). ``dashboard_uplift_30d`` is the
reports' uplift table the dashboard swaps in after it loads (statistics with a bootstrap).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from bench_support import REPO, migrated_database
from fastapi.testclient import TestClient
from report import raw_insert

from notifier.app import create_app
from notifier.clock import FrozenClock
from notifier.config import Settings
from notifier.console.auth import add_user
from notifier.reports.rollup import refresh
from notifier.runtime import create_runtime
from notifier.store.db import create_db_engine, session_factory, transaction

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CHUNK = 20_000
RULES = ("cart-abandoned", "order-unshipped", "shipment-late", "shipment-stalled",
         "shipment-exception", "order-delivered-followup")
STATUSES = (("sent", 40), ("delivered", 30), ("skipped", 15), ("held_out", 5),
            ("failed", 3), ("undelivered", 2), ("dry_run", 3), ("pending", 2))
CHANNELS = ("email", "sms", "push")
PAGES = {
    "dashboard_7d": "/console/?period=7d",
    "dashboard_30d": "/console/?period=30d",
    "dashboard_uplift_30d": "/console/?period=30d&partial=uplift",
    "deliveries": "/console/deliveries",
    "deliveries_rule_status": "/console/deliveries?rule=shipment-late&status=failed",
    "deliveries_customer": "/console/deliveries?customer=4242",
    "deliveries_page_100": None,  # keyset page deep in the list, filled in at run time
}


def seed(engine: sa.Engine, size: int) -> None:
    rng = random.Random(15)
    customers = max(1, size // 10)
    for start in range(0, customers, CHUNK):
        raw_insert(engine, "customers", [
            {"source": "bench", "external_id": f"c{i}", "email": f"c{i}@example.pl",
             "push_subscriptions": [], "created_at": NOW, "updated_at": NOW}
            for i in range(start, min(customers, start + CHUNK))])
    statuses = [s for s, w in STATUSES for _ in range(w)]
    span = timedelta(days=365).total_seconds()
    for start in range(0, size, CHUNK):
        rows = []
        for i in range(start, min(size, start + CHUNK)):
            # ids grow with time, as they do in a running shop
            detected = NOW - timedelta(seconds=span * (1 - i / size))
            status = rng.choice(statuses)
            sent = status in ("sent", "delivered", "undelivered", "failed")
            rule = RULES[i % len(RULES)]
            rows.append({
                "key": f"{rule}:0:order:{i}", "rule": rule, "step": 0,
                "entity_kind": "order", "entity_id": i, "customer_id": 1 + i % customers,
                "template": "t", "purpose": "transactional", "channels": ["email"],
                "channel": rng.choice(CHANNELS) if sent else None,
                "recipient": f"c{i % customers}@example.pl" if sent else None,
                "status": status,
                "reason": "quiet hours until 2026-12-02T07:00:00+00:00"
                if status == "skipped" else None,
                "due_at": detected, "attempts": 1 if sent else 0,
                "detected_at": detected, "sent_at": detected if sent else None,
                "days_late": 0, "clicks": 0, "converted_after_click": False,
                "kind": "message",
            })
        raw_insert(engine, "notifications", rows)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def measure(client: TestClient, path: str, repeat: int) -> dict[str, float]:
    client.get(path)  # warm: template compiled, pages cached by the database
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
    times.sort()
    return {"median_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1)}


def run(backend: str, size: int, repeat: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp, migrated_database(backend, Path(tmp)) as url:
        engine = create_db_engine(url)
        started = time.perf_counter()
        seed(engine, size)
        print(f"{backend}: seeded {size:,} notifications in "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
        started = time.perf_counter()
        refresh(session_factory(engine), timezone="Europe/Warsaw", now=NOW)
        rolled = time.perf_counter() - started
        print(f"{backend}: rolled up in {rolled:.1f} s", file=sys.stderr)
        engine.dispose()
        settings = Settings(database={"url": url},  # type: ignore[arg-type]
                            paths={"data_dir": Path(tmp) / "var",  # type: ignore[arg-type]
                                   "rules_dir": REPO / "rules",
                                   "templates_dir": REPO / "templates"})
        runtime = create_runtime(settings, clock=FrozenClock(NOW))
        with transaction(runtime.sessions) as session:
            add_user(session, email="bench@shop.example", role="owner",
                     password="bench password", now=NOW)
        out: dict[str, dict[str, float]] = {"rollup": {"seconds": round(rolled, 1)}}
        with TestClient(create_app(runtime)) as client:
            page = client.get("/console/login")
            csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
            client.post("/console/login", data={"email": "bench@shop.example",
                                                "password": "bench password", "csrf": csrf})
            for name, path in PAGES.items():
                if path is None:
                    path = f"/console/deliveries?before={size - 100 * 50}"
                out[name] = measure(client, path, repeat)
                print(f"{backend:<10} {name:<24} median {out[name]['median_ms']:>7.1f} ms"
                      f"   p95 {out[name]['p95_ms']:>7.1f} ms")
        runtime.close()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", "--size", type=int, default=1_000_000, dest="size")
    parser.add_argument("--database", "--backends", nargs="+", dest="databases",
                        choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    results = {backend: run(backend, args.size, args.repeat) for backend in args.databases}
    print(json.dumps({"bench": "console", "notifications": args.size, "results": results}))


if __name__ == "__main__":
    main()
