"""Detection tick time against many stored orders, 1% of them due, on SQLite and PostgreSQL.

    .venv/bin/python bench/detect.py                       # 100k and 1M, both backends
    .venv/bin/python bench/detect.py --sizes 100000 --backends sqlite

Orders are bulk-inserted (core INSERT, not the ORM) with ``next_check_at`` spread over the
next 30 days, except 1% whose time has come and whose ship-by promise is broken. It then
times: an idle tick (nothing due), the tick that finds the 1% and claims their
notifications, and the next idle tick. Figures go to stdout; nothing is asserted.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from bench_support import REPO, migrated_database

from notifier.config import Settings
from notifier.detect.scan import scan
from notifier.pipeline import build_engine
from notifier.runtime import create_runtime
from notifier.store.db import create_db_engine
from notifier.store.tables import Customer, Order

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CHUNK = 20_000


def seed(engine: sa.Engine, size: int, due_share: float = 0.01) -> int:
    rng = random.Random(7)
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
                is_due = rng.random() < due_share
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


def measure(url: str, size: int, workdir: Path) -> None:
    engine = create_db_engine(url)
    started = time.perf_counter()
    due = seed(engine, size)
    seeded = time.perf_counter() - started
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    settings = Settings(database={"url": url}, paths={"data_dir": workdir,
                                                       "rules_dir": REPO / "rules",
                                                       "templates_dir": REPO / "templates"})
    runtime = create_runtime(settings, engine=engine)
    rules = build_engine(runtime, channels={}).rules()

    def timed(moment: datetime) -> tuple[float, int, int]:
        t = time.perf_counter()
        result = scan(runtime.sessions, rules, moment)
        return time.perf_counter() - t, result.rows, sum(result.created.values())

    idle_before = timed(NOW - timedelta(hours=1))
    burst = timed(NOW)
    idle_after = timed(NOW + timedelta(seconds=30))
    print(f"{engine.dialect.name:<10} {size:>9,} orders  {due:>6,} due  "
          f"seed {seeded:6.1f}s  | idle tick {idle_before[0] * 1000:7.1f} ms  "
          f"| due tick {burst[0] * 1000:8.1f} ms ({burst[1]:,} rows, {burst[2]:,} created, "
          f"{burst[0] / max(burst[1], 1) * 1e3:.3f} ms/row)  "
          f"| next idle tick {idle_after[0] * 1000:6.1f} ms", flush=True)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    for size in args.sizes:
        for backend in args.backends:
            with tempfile.TemporaryDirectory() as tmp, migrated_database(backend,
                                                                           Path(tmp)) as url:
                measure(url, size, Path(tmp))

if __name__ == "__main__":
    main()
