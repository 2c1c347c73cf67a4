"""The group commit writer alone: batches of signed orders applied one after another.

    .venv/bin/python bench/ingest_writer.py --database postgresql --batches 60 --size 24

What ``bench/ingest.py`` cannot separate on a shared machine: per batch of ``--size``
Shopify ``orders/create`` payloads (parsed beforehand, as the event loop does), the
writer's wall time, its own CPU (its thread's) and, on PostgreSQL, the CPU of the server
backend serving it (``/proc/<pid>/schedstat``, in nanoseconds), with the statements it
sent. The customers repeat every 500 orders as in ``bench/ingest.py``, so later batches
update what earlier ones inserted. ``--statements`` prints the time of each statement.
The last line is one JSON object; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from bench_support import migrated_database
from ingest import SECRET, bodies, verify_and_parse
from sqlalchemy.util import greenlet_spawn

from notifier.config import Settings
from notifier.ingest.service import Inbound, Ingestor
from notifier.ingest.shopify import ShopifyAdapter
from notifier.store.db import create_db_engine, session_factory


def _on_cpu_ns(pid: int | None) -> int:
    if pid is None:
        return 0
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--size", type=int, default=24)
    parser.add_argument("--statements", action="store_true")
    parser.add_argument("--pool", action="store_true",
                        help="each batch through the pool, as before the held connection")
    args = parser.parse_args()
    adapter = ShopifyAdapter([SECRET])
    now = datetime.now(UTC)
    payloads = bodies(args.batches * args.size)
    items = [Inbound.parsed(source="shopify", topic="orders/create",
                            dedupe_key=f"shopify:event:{i}", body=body,
                            parse=partial(verify_and_parse, adapter, body, now), now=now)
             for i, body in enumerate(payloads)]
    with tempfile.TemporaryDirectory() as tmp, migrated_database(args.database,
                                                                   Path(tmp)) as url:
        engine = create_db_engine(url)
        backend: dict[str, int | None] = {"pid": None}
        per_statement: dict[str, list[float]] = defaultdict(list)
        server_statement: dict[str, list[float]] = defaultdict(list)
        started: dict[str, float] = {}

        @sa.event.listens_for(engine, "checkout")
        def _checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
            info = getattr(dbapi_conn, "info", None)
            backend["pid"] = getattr(info, "backend_pid", None)

        @sa.event.listens_for(engine, "before_cursor_execute")
        def _before(*_args: Any) -> None:
            started["t"] = time.perf_counter()
            started["cpu"] = _on_cpu_ns(backend["pid"])

        @sa.event.listens_for(engine, "after_cursor_execute")
        def _after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            key = " ".join(statement.split())[:70]
            per_statement[key].append((time.perf_counter() - started["t"]) * 1000)
            server_statement[key].append((_on_cpu_ns(backend["pid"]) - started["cpu"]) / 1e6)

        ingestor = Ingestor(session_factory(engine), Settings(paths={"data_dir": tmp}))
        hold = getattr(ingestor, "hold", None)  # (absent before the pipeline: comparisons)
        held = None if args.pool or hold is None else hold()
        loop = asyncio.new_event_loop()

        def apply(batch: list[Inbound]) -> list[Any]:
            # As notifier api applies a batch: inside greenlet_spawn on the writer's loop.
            return loop.run_until_complete(greenlet_spawn(
                ingestor.receive_batch, batch, **({"held": held} if held is not None else {})))

        walls, cpus, servers = [], [], []
        for n in range(args.batches):
            batch = items[n * args.size:(n + 1) * args.size]
            if held is not None:
                backend["pid"] = held.backend_pid
            server = _on_cpu_ns(backend["pid"])
            pid = backend["pid"]
            wall, cpu = time.perf_counter(), time.thread_time()
            answers = apply(batch)
            if held is not None:
                backend["pid"] = held.backend_pid
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.thread_time() - cpu) * 1000)
            servers.append((_on_cpu_ns(pid) - server) / 1e6 if pid == backend["pid"] else 0)
            assert all(a is not None and a.outcome == "applied" for a in answers), answers
        sent = held.sent if held is not None else 0
        if held is not None:
            loop.run_until_complete(greenlet_spawn(held.close))
        loop.close()
        engine.dispose()
    warm = slice(args.batches // 4, None)  # the first quarter warms caches and prepares
    figures = {
        "bench": "ingest_writer", "database": args.database, "size": args.size,
        "wall_ms": round(statistics.median(walls[warm]), 3),
        "cpu_ms": round(statistics.median(cpus[warm]), 3),
        "server_cpu_ms": round(statistics.median(servers[warm]), 3),
        "cpu_per_order_ms": round(statistics.median(cpus[warm]) / args.size, 4),
        "server_per_order_ms": round(statistics.median(servers[warm]) / args.size, 4),
        "statements": round((sum(len(v) for v in per_statement.values()) + sent)
                            / args.batches, 1),
    }
    if args.statements:
        for key, times in sorted(per_statement.items(), key=lambda kv: -sum(kv[1])):
            print(f"{len(times) / args.batches:5.1f}/batch {statistics.median(times):7.3f} ms "
                  f"(server {statistics.mean(server_statement[key]):6.3f})  {key}")
    print(f"{args.size} orders a batch: wall {figures['wall_ms']} ms, writer CPU "
          f"{figures['cpu_ms']} ms, server CPU {figures['server_cpu_ms']} ms (medians)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
