"""Messages per second from 1 and from 3 `notifier worker` processes on one PostgreSQL,
against an SMTP sink that takes 20 ms per message (the provider is the bottleneck).

    .venv/bin/python bench/scaleout.py                          # 1,500 messages, 1 vs 3
    .venv/bin/python bench/scaleout.py --messages 3000 --workers 4 --delay-ms 50

Each run gets a fresh database with ``--messages`` orders past their ship-by date,
detected in this process and held back until the workers (``python -m notifier.cli
worker``, each with ``--connections`` SMTP connections and twice as many messages in
flight) are all up, then made due at once; the workers dispatch them on their own
scheduler. The rate is taken from
the sink's acceptance times, first to last message, so start-up is not counted. Figures
go to stdout, the last line is ONE JSON object (bench, database, messages, delay_ms,
connections, workers, one_worker_per_s, workers_per_s, ratio); nothing is asserted.
PostgreSQL only: SQLite has one writer, and several processes on one file is not how it
is meant to be run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from bench_support import REPO, free_port, migrated_database
from dispatch import start_sink

from notifier.config import Settings
from notifier.ingest.apply import Applier
from notifier.ingest.records import OrderIn
from notifier.pipeline import build_engine
from notifier.runtime import create_runtime
from notifier.store.db import transaction


def seed(settings: Settings, count: int, now: datetime) -> int:
    """``count`` orders a day past their ship-by date, detected as of ``now``."""
    placed = now - timedelta(days=3)
    runtime = create_runtime(settings)
    with transaction(runtime.sessions) as session:
        applier = Applier(session, settings, source="bench", now=placed)
        for i in range(count):
            applier.apply(OrderIn.model_validate({
                "external_id": f"o{i}", "currency": "PLN", "total": "249.00",
                "payment_status": "paid", "placed_at": placed.isoformat(),
                "ship_by": (now - timedelta(days=1)).isoformat(),
                "items": [{"name": "Kubek ceramiczny", "quantity": 2, "price": "49.00"}],
                "customer": {"external_id": f"c{i}", "email": f"c{i}@example.pl",
                             "first_name": "Anna", "salutation": "mrs", "locale": "pl"}}))
    engine = build_engine(runtime)
    found = asyncio.run(engine.detect(now))
    asyncio.run(engine.aclose())
    runtime.close()
    return sum(found.created.values())


def config_file(path: Path, url: str, tmp: Path, port: int, connections: int) -> Path:
    path.write_text(
        f'[database]\nurl = "{url}"\n'
        f'[paths]\ndata_dir = "{tmp}"\nrules_dir = "{REPO / "rules"}"\n'
        f'templates_dir = "{REPO / "templates"}"\n'
        '[email]\ntransport = "smtp"\n'
        f'[email.smtp]\nhost = "127.0.0.1"\nport = {port}\nstarttls = false\n'
        f"pool_size = {connections}\n"
        # Twice as many messages in flight as connections: the next message is rendered
        # and its attempt committed while a connection is busy, so the relay stays fed.
        f"[delivery]\nconcurrency = {2 * connections}\nbatch_size = 50\n"
        "[delivery.frequency_caps]\n"
        # Dispatch often, detect and attribute rarely: only dispatch is measured.
        "[scheduler]\ndispatch_interval_s = 0.2\ndetect_interval_s = 3600\n"
        "[track]\ninterval_s = 3600\n", encoding="utf-8")
    return path


def hold_back(url: str, until: datetime | None) -> None:
    """Make the seeded notifications due at ``until`` (None: now, in the database's time)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if until is None:
            conn.execute(sa.text("UPDATE notifications SET due_at = now() "
                                 "WHERE kind = 'message' AND status = 'pending'"))
        else:
            conn.execute(sa.text("UPDATE notifications SET due_at = :t "
                                 "WHERE kind = 'message' AND status = 'pending'"), {"t": until})
    engine.dispose()


def connected(url: str) -> int:
    """Sessions other than this one on the bench database (each worker keeps its own)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                 "current_database() AND pid <> pg_backend_pid()")).scalar_one()
    engine.dispose()
    return int(n)


def sent_count(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM notifications "
                                 "WHERE kind = 'message' AND status = 'sent'")).scalar_one()
    engine.dispose()
    return int(n)


def run(workers: int, args: argparse.Namespace) -> tuple[int, float]:
    """(messages accepted by the sink, messages per second first to last) with ``workers``."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp_name, \
            migrated_database("postgresql", Path(tmp_name)) as url:
        tmp = Path(tmp_name)
        settings = Settings(database={"url": url},
                            paths={"data_dir": tmp, "rules_dir": REPO / "rules",
                                   "templates_dir": REPO / "templates"},
                            delivery={"frequency_caps": {}})
        now = datetime.now(UTC)
        due = seed(settings, args.messages, now)
        # Held back until every worker is up (its scheduler polling the database), then
        # due at once: a worker that started later would otherwise find less to do.
        hold_back(url, now + timedelta(days=1))
        config = config_file(tmp / "config.toml", url, tmp, port, args.connections)
        log = tmp / "accepted.txt"
        sink = start_sink(port, log, args.delay_ms)
        procs = [subprocess.Popen([sys.executable, "-m", "notifier.cli", "--config",
                                   str(config), "worker"], cwd=tmp,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(workers)]
        deadline = time.monotonic() + args.timeout_s
        try:
            while connected(url) < workers and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(2)  # past the first pass of the last one up
            hold_back(url, None)
            while sent_count(url) < due and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            sink.terminate()
            sink.wait()
        accepted = sorted(float(line) for line in log.read_text().split())
    if len(accepted) < 2:
        return len(accepted), 0.0
    return len(accepted), (len(accepted) - 1) / (accepted[-1] - accepted[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--delay-ms", type=float, default=20.0,
                        help="how long the sink takes per message")
    parser.add_argument("--connections", type=int, default=2,
                        help="SMTP connections (and messages in flight) per worker")
    parser.add_argument("--timeout-s", type=float, default=600.0)
    args = parser.parse_args()

    one_n, one_rate = run(1, args)
    many_n, many_rate = run(args.workers, args)
    ceiling = args.connections * 1000 / args.delay_ms if args.delay_ms else float("inf")
    ratio = many_rate / one_rate if one_rate else 0.0
    print(f"PostgreSQL, sink answering each message after {args.delay_ms:g} ms, "
          f"{args.connections} connection(s) per worker (at most {ceiling:g} msg/s each)")
    print(f"1 worker:  {one_n:,} accepted, {one_rate:7.1f} msg/s")
    print(f"{args.workers} workers: {many_n:,} accepted, {many_rate:7.1f} msg/s")
    print(f"ratio {args.workers} workers / 1: {ratio:.2f}")
    print(json.dumps({"bench": "scaleout", "database": "postgresql",
                      "messages": args.messages, "delay_ms": args.delay_ms,
                      "connections": args.connections, "workers": args.workers,
                      "one_worker_per_s": round(one_rate, 1),
                      "workers_per_s": round(many_rate, 1), "ratio": round(ratio, 2)}))


if __name__ == "__main__":
    main()
