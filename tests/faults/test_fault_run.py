"""The fault run: 1,000 due notifications, three workers on one PostgreSQL database, one of
them SIGKILLed every few seconds (always one caught holding leases, i.e. mid-batch) for
the first minute, the database's connections cut mid-dispatch, and an SMTP relay that is
first slow (it takes the data and answers after the client's final-reply timeout), then
refusing (451), then healthy. After the faults the workers drain what is left.

At the end every notification is sent exactly once or held as an unknown outcome with its
reason, none is lost, and nobody received a held or sent message twice. The run prints
its counts and ends with one JSON line.

The database is not restarted: the PostgreSQL server is shared with the rest of the suite,
so "restarted" is done from its clients' side, by terminating every connection to this
run's database (``pg_terminate_backend``) mid-dispatch, which is what a restart looks
like to the workers.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlmodel import select

from notifier.ingest.apply import Applier
from notifier.ingest.payloads import validate
from notifier.ingest.records import OrderIn
from notifier.pipeline import build_engine
from notifier.runtime import create_runtime
from notifier.store.db import transaction
from notifier.store.tables import Customer, Notification
from tests.conftest import (
    REPO,
    create_pg_database,
    drop_pg_database,
    make_settings,
    require_postgres,
)
from tests.fakes.smtp import free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MESSAGES = int(os.environ.get("FAULT_RUN_MESSAGES", "1000"))
WORKERS = 3
KILL_EVERY_S = 5.0  # at most this often, and only a worker caught holding leases
FAULTS_S = float(os.environ.get("FAULT_RUN_FAULTS_S", "60"))  # then the workers drain
SLOW_S, REFUSING_S = 6.0, 6.0  # relay phases after the first message arrives
DEADLINE_S = float(os.environ.get("FAULT_RUN_DEADLINE_S", "420"))


class FlakyRelay:
    """An SMTP relay that is slow, then refusing, then healthy. Everything it takes is
    kept (a slow answer still delivers: the client merely stopped waiting)."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.started: float | None = None
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def phase(self) -> str:
        with self.lock:
            if self.started is None:
                self.started = time.monotonic()
            age = time.monotonic() - self.started
        if age < SLOW_S:
            return "slow"
        return "refusing" if age < SLOW_S + REFUSING_S else "healthy"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        phase = self.phase()
        if phase == "refusing":
            return "451 4.3.2 try again later"
        with self.lock:
            self.received.append(bytes(envelope.original_content or envelope.content))
        if phase == "slow":
            await asyncio.sleep(2.0)  # past the client's final-reply timeout of 1 s
        return "250 2.0.0 accepted"


def seed(settings: Any, due: datetime) -> None:
    """1,000 late orders, and the notifications detection makes of them, due now."""
    runtime = create_runtime(settings)
    placed = due - timedelta(days=3)
    with transaction(runtime.sessions) as session:
        applier = Applier(session, settings, source="faults", now=placed)
        for i in range(MESSAGES):
            applier.apply(validate(OrderIn, {
                "external_id": f"f{i}", "number": f"F{i}", "currency": "PLN", "total": "100",
                "payment_status": "paid", "placed_at": placed.isoformat(),
                "ship_by": (due - timedelta(hours=6)).isoformat(),
                "customer": {"external_id": f"fc{i}", "email": f"f{i}@example.pl",
                             "locale": "pl", "timezone": "UTC"}},
                context={"region": "PL"}))
    engine = build_engine(runtime)
    asyncio.run(engine.detect(due))
    asyncio.run(engine.aclose())
    runtime.close()


def test_fault_run(tmp_path: Path) -> None:
    admin = require_postgres()
    db = create_pg_database(admin)
    relay = FlakyRelay()
    relay.controller.start()
    workers: list[subprocess.Popen[bytes]] = []
    log = (tmp_path / "workers.log").open("wb")
    try:
        rules = tmp_path / "rules"
        rules.mkdir()
        (rules / "order-unshipped.toml").write_text(
            (REPO / "rules" / "order-unshipped.toml").read_text(encoding="utf-8"),
            encoding="utf-8")
        config = tmp_path / "config.toml"
        config.write_text(
            f'[database]\nurl = "{db.url}"\n'
            f'[paths]\ndata_dir = "{tmp_path / "var"}"\nrules_dir = "{rules}"\n'
            f'templates_dir = "{REPO / "templates"}"\n'
            '[email]\ntransport = "smtp"\n'
            f'[email.smtp]\nhost = "127.0.0.1"\nport = {relay.port}\nstarttls = false\n'
            "timeout_s = 5\nfinal_reply_timeout_s = 1.0\npool_size = 4\n"
            "[scheduler]\ndetect_interval_s = 1\ndispatch_interval_s = 0.5\n"
            "[delivery]\nbatch_size = 25\nconcurrency = 4\nlease_s = 6\nmax_attempts = 30\n"
            "backoff_base_s = 1\nbackoff_max_s = 4\n"
            "[offers]\nenabled = false\n", encoding="utf-8")
        settings = make_settings(tmp_path, database={"url": db.url}, offers={"enabled": False},
                                 paths={"rules_dir": rules})
        seed(settings, datetime.now(UTC))
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
        env["PYTHONFAULTHANDLER"] = "1"  # a worker still stuck at the end dumps its stacks

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen([sys.executable, "-m", "notifier.cli", "--config",
                                     str(config), "worker"], cwd=tmp_path, env=env,
                                    stdout=log, stderr=subprocess.STDOUT)

        workers = [start() for _ in range(WORKERS)]
        engine = sa.create_engine(db.url)
        kills = cuts = 0
        began = time.monotonic()
        last_kill = began
        cut_done = False
        while time.monotonic() - began < DEADLINE_S:
            time.sleep(0.5)
            with engine.connect() as conn:
                open_rows = conn.execute(sa.text(
                    "SELECT count(*) FROM notifications WHERE kind = 'message' AND "
                    "status IN ('pending', 'sending')")).scalar_one()
                total = conn.execute(sa.text("SELECT count(*) FROM notifications")).scalar_one()
                sent = conn.execute(sa.text(
                    "SELECT count(*) FROM notifications WHERE status = 'sent'")).scalar_one()
                # Owners are "host:pid": a worker that holds leases is mid-dispatch.
                busy = {int(owner.rpartition(":")[2]) for (owner,) in conn.execute(sa.text(
                    "SELECT DISTINCT lease_owner FROM notifications WHERE status = 'sending' "
                    "AND lease_owner IS NOT NULL"))}
            if total >= MESSAGES and open_rows == 0:
                break
            faulty = time.monotonic() - began < FAULTS_S
            if not cut_done and faulty and (sent >= MESSAGES // 3
                                            or time.monotonic() - began > FAULTS_S / 2):
                # "PostgreSQL restarts" under the workers: every connection to this database
                # is cut at once, mid-dispatch.
                with admin.connect() as conn:
                    cuts = conn.execute(sa.text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"),
                        {"name": db.name}).scalar_one()
                cut_done = True
                engine.dispose()
            victims = [i for i, w in enumerate(workers) if w.pid in busy]
            if faulty and victims and time.monotonic() - last_kill >= KILL_EVERY_S:
                victim = victims[kills % len(victims)]
                os.kill(workers[victim].pid, signal.SIGKILL)  # mid-batch, leases held
                workers[victim].wait(timeout=30)
                workers[victim] = start()
                kills += 1
                last_kill = time.monotonic()
        took = time.monotonic() - began
        engine.dispose()
        for worker in workers:
            worker.send_signal(signal.SIGTERM if open_rows == 0 else signal.SIGABRT)
        for worker in workers:
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:  # a loaded machine: it has nothing left to do
                worker.kill()
                worker.wait(timeout=30)

        runtime = create_runtime(settings)
        with runtime.sessions() as session:
            found = session.exec(select(Notification, Customer.email)
                                 .join(Customer, Customer.id == Notification.customer_id)
                                 .where(Notification.kind == "message")).all()
            rows = [(n, email) for n, email in found]
        runtime.close()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        log.close()
        relay.controller.stop()
        drop_pg_database(admin, db)
        admin.dispose()

    copies = Counter(message_from_bytes(raw)["To"] for raw in relay.received)
    status = Counter(n.status for n, _ in rows)
    sent_once = sum(1 for n, to in rows if n.status == "sent" and copies[to] == 1)
    held = [n for n, _ in rows if n.status == "held"]
    lost = [n for n, to in rows if n.status not in ("sent", "held")
            or (n.status == "sent" and copies[to] == 0)]
    duplicates = sum(1 for count in copies.values() if count > 1)
    held_reached = sum(1 for n, to in rows if n.status == "held" and copies[to] >= 1)
    figures = {"notifications": len(rows), "sent_once": sent_once, "held_unknown": len(held),
               "held_that_reached_the_relay": held_reached, "lost": len(lost),
               "duplicates": duplicates, "workers_killed": kills,
               "connections_cut": cuts, "seconds": round(took, 1),
               "statuses": dict(status)}
    print(f"\nfault run: {len(rows)} notifications, {kills} workers SIGKILLed, "
          f"{cuts} database connections cut, relay slow/refusing/healthy, {took:.0f} s")
    print(f"  sent exactly once: {sent_once}   held (unknown outcome): {len(held)} "
          f"({held_reached} of them reached the relay)   lost: {len(lost)}   "
          f"duplicates: {duplicates}")
    print(json.dumps(figures, sort_keys=True))
    assert len(rows) == MESSAGES
    assert lost == [], [(n.id, n.status, n.reason) for n in lost[:5]]
    assert duplicates == 0
    assert sent_once + len(held) == MESSAGES
    assert all("unknown outcome" in (n.reason or "") or "worker lost" in (n.reason or "")
               for n in held)
