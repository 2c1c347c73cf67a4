"""Detection tick time against many stored orders, some of them due, on SQLite or PostgreSQL.

    .venv/bin/python bench/detect.py                                   # SQLite, 100k with 10k due
    .venv/bin/python bench/detect.py --database postgresql --stored 1000000 --due 10000
    .venv/bin/python bench/detect.py --stored 10000 --due 1000         # a quick run
    .venv/bin/python bench/detect.py --database postgresql --lanes 1   # one lane, to compare

Orders are bulk-inserted (core INSERT, not the ORM) with ``next_check_at`` spread over the
next 30 days, except ``--due`` of them (chosen at random, fixed seed) whose time has come
and whose ship-by promise is broken. It then times: an idle tick (nothing due), the tick
that finds the due ones and claims their notifications, and the next idle tick. Figures
go to stdout, the last line is ONE JSON object (bench, database, stored, due, tick_s,
per_due_us, idle_ms: the next idle tick, warm; the first one also pays for first use of
the connection and compiled statements and is printed above; cpu_us: this process's CPU
per due row in the due tick, which a loaded machine inflates far less than the wall
clock — on PostgreSQL the server's share is not in it; lanes: how many lanes the tick
scanned in, by default the engine's own choice, 2 on PostgreSQL and 1 on SQLite); nothing
is asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from bench_support import REPO, migrated_database

from notifier.cli import _freeze_start_up
from notifier.config import Settings
from notifier.detect.scan import default_lanes, scan
from notifier.pipeline import build_engine
from notifier.runtime import create_runtime
from notifier.store.db import create_db_engine
from notifier.store.tables import Customer, Order

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CHUNK = 20_000


def seed(engine: sa.Engine, size: int, due_count: int) -> int:
    rng = random.Random(7)
    due_rows = set(rng.sample(range(size), min(size, due_count)))
    customers = max(1, size // 3)
    placed = NOW - timedelta(days=3)
    with engine.begin() as conn:
        for start in range(0, customers, CHUNK):
            conn.execute(sa.insert(Customer.__table__), [
                {"source": "bench", "external_id": f"c{i}", "email": f"c{i}@example.pl",
                 "locale": "pl", "push_subscriptions": [], "created_at": placed,
                 "updated_at": placed}
                for i in range(start, min(customers, start + CHUNK))])
    due = 0
    with engine.begin() as conn:
        for start in range(0, size, CHUNK):
            rows = []
            for i in range(start, min(size, start + CHUNK)):
                is_due = i in due_rows
                due += is_due
                ship_by = NOW - timedelta(hours=6) if is_due else NOW + timedelta(days=2)
                check = (NOW - timedelta(minutes=1) if is_due
                         else NOW + timedelta(minutes=rng.randint(1, 30 * 24 * 60)))
                rows.append({
                    "source": "bench", "external_id": f"o{i}", "number": f"#{i}",
                    "customer_id": 1 + i % customers, "status": "confirmed",
                    "payment_status": "paid", "is_test": False, "currency": "PLN",
                    "total": 100, "items": [], "discount_codes": [], "placed_at": placed,
                    "ship_by": ship_by, "deliver_by": ship_by + timedelta(days=2),
                    "next_check_at": check, "created_at": placed, "updated_at": placed,
                })
            conn.execute(sa.insert(Order.__table__), rows)
    return due


def measure(url: str, size: int, due_count: int, workdir: Path,
            lanes: int | None = None) -> dict[str, object]:
    engine = create_db_engine(url)
    started = time.perf_counter()
    due = seed(engine, size, due_count)
    seeded = time.perf_counter() - started
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    settings = Settings(database={"url": url}, paths={"data_dir": workdir,
                                                       "rules_dir": REPO / "rules",
                                                       "templates_dir": REPO / "templates"})
    runtime = create_runtime(settings, engine=engine)
    rules = build_engine(runtime, channels={}).rules()
    _freeze_start_up()  # what `notifier serve` and `notifier worker` do once started
    lanes = default_lanes(runtime.sessions) if lanes is None else lanes

    def timed(moment: datetime) -> tuple[float, int, int, float]:
        t, cpu = time.perf_counter(), time.process_time()
        result = scan(runtime.sessions, rules, moment, lanes=lanes)
        return (time.perf_counter() - t, result.rows, sum(result.created.values()),
                time.process_time() - cpu)

    idle_before = timed(NOW - timedelta(hours=1))
    burst = timed(NOW)
    idle_after = timed(NOW + timedelta(seconds=30))
    print(f"{engine.dialect.name:<10} {size:>9,} orders  {due:>6,} due  "
          f"seed {seeded:6.1f}s  | idle tick {idle_before[0] * 1000:7.1f} ms  "
          f"| due tick {burst[0] * 1000:8.1f} ms ({burst[1]:,} rows, {burst[2]:,} created, "
          f"{burst[0] / max(burst[1], 1) * 1e3:.3f} ms/row)  "
          f"| next idle tick {idle_after[0] * 1000:6.1f} ms  | {lanes} lane(s)", flush=True)
    engine.dispose()
    return {"bench": "detect", "database": engine.dialect.name, "stored": size, "due": due,
            "tick_s": round(burst[0], 3),
            "per_due_us": round(burst[0] / max(burst[1], 1) * 1e6, 1),
            "idle_ms": round(idle_after[0] * 1000, 1),
            "cpu_us": round(burst[3] / max(burst[1], 1) * 1e6, 1), "lanes": lanes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--stored", type=int, default=100_000, help="orders stored")
    parser.add_argument("--due", type=int, default=10_000, help="of which due now")
    parser.add_argument("--lanes", type=int, default=None,
                        help="lanes a tick scans in (default: the engine's choice)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, migrated_database(args.database,
                                                                   Path(tmp)) as url:
        figures = measure(url, args.stored, args.due, Path(tmp), args.lanes)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
