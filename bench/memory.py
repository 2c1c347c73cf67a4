"""Resident memory of ``notifier serve`` as the store grows to 100k and then 1M orders.

    .venv/bin/python bench/memory.py                          # SQLite, 100k then 1M orders
    .venv/bin/python bench/memory.py --database postgresql --sizes 100000,1000000

One ``notifier serve`` process (HTTP API, scheduler, dispatcher; detection every 2 s,
e-mail to a local SMTP sink) runs for the whole bench. At each size the store is first
filled set-based (one ``INSERT ... SELECT`` over a generated series per table, from this
process: posting a million webhooks through HTTP takes too long on the 2-core machine)
with orders whose next check is weeks away, like a shop's history; then ``--requests``
signed Shopify ``orders/create`` webhooks go through serve's HTTP group-commit path
(those orders are due at once, so detection evaluates them), and the bench waits for
``--ticks`` detection ticks before reading serve's RSS from ``/proc``. The last line is
ONE JSON object: bench, database, rss_mb_100k, rss_mb_1m (the two first sizes), and
per size the stored orders, RSS and peak RSS (VmHWM); nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from bench_support import REPO, free_port, migrated_database
from ingest import SECRET, bodies, p99, post_all

from notifier.store.db import create_db_engine
from notifier.store.types import UTCDateTime

DETECT_INTERVAL_S = 2.0

_SERIES = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT :start UNION ALL SELECT i + 1 FROM n "
              "WHERE i + 1 < :stop) SELECT i FROM n",
    "postgresql": "SELECT i FROM generate_series(:start, :stop - 1) AS i",
}


def seed(engine: sa.Engine, start: int, stop: int) -> None:
    """Orders ``start``..``stop - 1`` (source ``seed``) and a customer for every third,
    inserted by the database from a generated series, one chunk per transaction."""
    series = _SERIES[engine.dialect.name]
    placed = datetime.now(UTC) - timedelta(days=20)
    later = datetime.now(UTC) + timedelta(days=30)
    customers = sa.text(
        "INSERT INTO customers (source, external_id, email, locale, push_subscriptions, "
        "created_at, updated_at) SELECT 'seed', 'c' || i, 'c' || i || '@example.pl', 'pl', "
        f"'[]', :placed, :placed FROM ({series}) AS s WHERE i % 3 = 0"
    ).bindparams(sa.bindparam("placed", type_=UTCDateTime))
    orders = sa.text(
        "INSERT INTO orders (source, external_id, number, customer_id, status, payment_status, "
        "is_test, currency, total, items, discount_codes, placed_at, ship_by, deliver_by, "
        "delivered_at, next_check_at, created_at, updated_at) "
        "SELECT 'seed', 'o' || i, '#' || i, (SELECT id FROM customers WHERE source = 'seed' "
        "AND external_id = 'c' || (i - i % 3)), 'delivered', 'paid', FALSE, 'PLN', 100, "
        "'[{\"name\": \"Kubek\", \"quantity\": 1, \"price\": \"100\"}]', '[]', :placed, "
        f":placed, :placed, :placed, :later, :placed, :placed FROM ({series}) AS s"
    ).bindparams(sa.bindparam("placed", type_=UTCDateTime),
                 sa.bindparam("later", type_=UTCDateTime))
    chunk = 100_000
    for low in range(start, stop, chunk):
        params = {"start": low, "stop": min(stop, low + chunk), "placed": placed,
                  "later": later}
        with engine.begin() as conn:
            conn.execute(customers, params)
            conn.execute(orders, params)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def stored_orders(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--sizes", default="100000,1000000",
                        help="stored orders at each measurement, comma-separated")
    parser.add_argument("--requests", type=int, default=2000,
                        help="webhooks through HTTP at each size")
    parser.add_argument("--ticks", type=int, default=3, help="detection ticks waited")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    with tempfile.TemporaryDirectory() as tmp, migrated_database(args.database,
                                                                   Path(tmp)) as url:
        sink_port, port = free_port(), free_port()
        sink = subprocess.Popen([sys.executable, str(REPO / "bench/smtp_sink.py"), "--port",
                                 str(sink_port), "--log", f"{tmp}/accepted.txt"])
        env = {**os.environ, "NOTIFIER_DATABASE__URL": url, "NOTIFIER_PATHS__DATA_DIR": tmp,
               "NOTIFIER_PATHS__RULES_DIR": str(REPO / "rules"),
               "NOTIFIER_PATHS__TEMPLATES_DIR": str(REPO / "templates"),
               "NOTIFIER_SHOPIFY__WEBHOOK_SECRET": SECRET,
               "NOTIFIER_EMAIL__SMTP__HOST": "127.0.0.1",
               "NOTIFIER_EMAIL__SMTP__PORT": str(sink_port),
               "NOTIFIER_EMAIL__SMTP__STARTTLS": "false",
               "NOTIFIER_SCHEDULER__DETECT_INTERVAL_S": str(DETECT_INTERVAL_S),
               "NOTIFIER_SCHEDULER__DISPATCH_INTERVAL_S": str(DETECT_INTERVAL_S)}
        serve = subprocess.Popen([sys.executable, "-m", "notifier.cli", "serve", "--port",
                                  str(port)], env=env, cwd=tmp, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        engine = create_db_engine(url)
        results: list[dict[str, float | int]] = []
        try:
            for _ in range(400):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
                    break
                except httpx.HTTPError:
                    time.sleep(0.05)
            print(f"notifier serve started: RSS {rss_mb(serve.pid)[0]:.0f} MB")
            seeded, posted = 0, 0
            for size in sizes:
                target = max(seeded, size - posted - args.requests)
                started = time.perf_counter()
                seed(engine, seeded, target)
                seed_s = time.perf_counter() - started
                seeded = target
                rate, latencies = post_all(port, bodies(args.requests, first=10_000 + posted),
                                           32, prefix=f"memory-{size}")
                posted += args.requests
                time.sleep(DETECT_INTERVAL_S * args.ticks)
                rss, peak = rss_mb(serve.pid)
                stored = stored_orders(engine)
                print(f"{args.database}: {stored:>9,} orders stored ({seeded:,} seeded "
                      f"set-based in {seed_s:.1f} s, {posted:,} through HTTP, last "
                      f"{args.requests:,} at {rate:.0f}/s, p99 {p99(latencies):.0f} ms), "
                      f"{args.ticks} detection ticks: RSS {rss:.0f} MB, peak {peak:.0f} MB",
                      flush=True)
                results.append({"stored": stored, "rss_mb": round(rss, 1),
                                "peak_mb": round(peak, 1)})
        finally:
            serve.terminate()
            serve.wait()
            sink.terminate()
            sink.wait()
            engine.dispose()
    line: dict[str, object] = {"bench": "memory", "database": args.database}
    for label, result in zip(("100k", "1m"), results, strict=False):
        line[f"rss_mb_{label}"] = result["rss_mb"]
    line["sizes"] = results
    line["http_requests_per_size"] = args.requests
    print(json.dumps(line))


if __name__ == "__main__":
    main()
