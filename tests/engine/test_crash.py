"""A worker killed with SIGKILL mid-batch: its leases expire, another worker finishes its
claims, and every notification reaches the SMTP sink at most once. The one whose SMTP
call the kill interrupted has an unknown outcome: held (``on_unknown = "hold"``, the
default) or resent (``"resend"``)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from notifier.runtime import create_runtime
from notifier.store.tables import DeliveryAttempt, Notification
from tests.conftest import (
    REPO,
    create_pg_database,
    drop_pg_database,
    make_settings,
    require_postgres,
)
from tests.engine.conftest import put
from tests.fakes.smtp import free_port

pytestmark = pytest.mark.slow

ORDERS = 40
ACCEPT_BEFORE_BLOCK = 10
T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
DUE = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


class BlockingSink:
    """Accepts ``accept`` messages, then holds every further DATA until released. A held
    message whose client vanished is not accepted, like a real MTA losing the session."""

    def __init__(self, accept: int) -> None:
        self.accept = accept
        self.received: list[bytes] = []
        self.blocked = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.gate: asyncio.Event | None = None
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.gate is None:
            self.loop, self.gate = asyncio.get_running_loop(), asyncio.Event()
        if len(self.received) >= self.accept and not self.gate.is_set():
            self.blocked.set()
            await self.gate.wait()
            if server.transport is None or server.transport.is_closing():
                return "451 4.4.2 connection lost before acceptance"
        self.received.append(bytes(envelope.original_content or envelope.content))
        return "250 2.0.0 accepted"

    def release(self) -> None:
        assert self.loop is not None and self.gate is not None
        self.loop.call_soon_threadsafe(self.gate.set)


@pytest.fixture
def sink() -> Iterator[BlockingSink]:
    box = BlockingSink(ACCEPT_BEFORE_BLOCK)
    box.controller.start()
    yield box
    box.controller.stop()


@pytest.mark.parametrize("on_unknown", ["hold", "resend"])
def test_sigkilled_worker_claims_are_finished_by_another(sink: BlockingSink, tmp_path: Path,
                                                         on_unknown: str) -> None:
    admin = require_postgres()
    db = create_pg_database(admin)
    try:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[database]\nurl = "{db.url}"\n'
            f'[paths]\ndata_dir = "{tmp_path / "var"}"\nrules_dir = "{REPO / "rules"}"\n'
            f'templates_dir = "{REPO / "templates"}"\n'
            '[email]\ntransport = "smtp"\n'
            f'[email.smtp]\nhost = "127.0.0.1"\nport = {sink.port}\nstarttls = false\n'
            "pool_size = 1\n"
            # One message in flight: when DATA of message 11 arrives, message 10's
            # "sent" is already committed, so the kill lands mid-batch, never mid-commit.
            "[delivery]\nbatch_size = 20\nconcurrency = 1\nlease_s = 300\n"
            f'on_unknown = "{on_unknown}"\n',
            encoding="utf-8")
        runtime = create_runtime(make_settings(tmp_path, database={"url": db.url}))
        for i in range(ORDERS):
            put(runtime, "order", {
                "external_id": f"o{i}", "currency": "PLN", "total": "100",
                "payment_status": "paid", "placed_at": T0.isoformat(),
                "ship_by": "2026-12-02T12:00:00+01:00",
                "customer": {"external_id": f"c{i}", "email": f"c{i}@example.pl"}}, now=T0)

        def tick(moment: datetime) -> subprocess.Popen[str]:
            return subprocess.Popen(
                [sys.executable, "-m", "notifier.cli", "--config", str(config), "tick",
                 "--now", moment.isoformat()], cwd=tmp_path, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

        first = tick(DUE)
        assert sink.blocked.wait(timeout=120), "worker never reached the sink"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        sink.release()

        with runtime.sessions() as session:
            statuses = [n.status for n in session.exec(select(Notification)).all()]
        assert statuses.count("sent") == ACCEPT_BEFORE_BLOCK
        assert statuses.count("sending") == 20 - ACCEPT_BEFORE_BLOCK  # A's leased claims

        second = tick(DUE + timedelta(seconds=301))  # after A's leases ran out
        out, _ = second.communicate(timeout=240)
        assert second.returncode == 0, out

        with runtime.sessions() as session:
            rows = session.exec(select(Notification)).all()
            attempts = session.exec(select(DeliveryAttempt)).all()
        runtime.close()
        recipients = [message_from_bytes(raw)["To"] for raw in sink.received]
        assert len(set(recipients)) == len(recipients)  # nobody got it twice
        message_ids = {message_from_bytes(raw)["Message-ID"] for raw in sink.received}
        assert len(message_ids) == len(recipients)
        # The attempt the kill interrupted stays as evidence, judged "unknown".
        outcomes = [a.outcome for a in attempts]
        assert outcomes.count("unknown") == 1 and "sending" not in outcomes
        if on_unknown == "resend":
            assert {n.status for n in rows} == {"sent"} and len(rows) == ORDERS
            assert sorted(recipients) == sorted(f"c{i}@example.pl" for i in range(ORDERS))
            assert outcomes.count("sent") == ORDERS
        else:
            [held] = [n for n in rows if n.status == "held"]
            assert [n.status for n in rows].count("sent") == ORDERS - 1
            assert "worker lost during attempt 1" in (held.reason or "")
            assert "on_unknown = hold" in (held.reason or "")
            assert len(recipients) == ORDERS - 1 and held.recipient not in recipients
    finally:
        drop_pg_database(admin, db)
        admin.dispose()
