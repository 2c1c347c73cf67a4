"""Messages per second through the engine to a local SMTP sink, beside raw aiosmtplib.

    .venv/bin/python bench/dispatch.py                 # 2,000 messages, SQLite
    .venv/bin/python bench/dispatch.py --messages 5000 --database postgresql

The sink is a discarding aiosmtpd handler in its own process (``bench/smtp_sink.py``)
that notes when it accepted each message. The engine run claims,
checks consent and quiet hours, renders the shipped order_unshipped email (sandboxed
Jinja2, CSS inlining), sends through the SMTP channel's persistent connections and records
every attempt. The raw run sends the same number of equally sized, pre-built messages with
aiosmtplib over the same number of persistent connections and does nothing else. The
engine run first freezes what start-up built out of the cyclic collector's walks, as
``notifier worker`` does (the raw run after it collects the same way). The ratio is the
engine's overhead per message. ``due_to_sent_p99_s`` is the 99th percentile,
over the engine's messages, of the time from the wall-clock moment the tick that finds
them due starts (all are due at that moment; dispatch follows at once, with no dispatch
interval in between) to the sink accepting the message; ``raw_due_to_sent_p99_s`` is the
same for the raw run, from the moment it starts connecting (its messages are all "due"
then): with every message due at once, a p99 is close to the time the whole run takes, so
that is the figure to hold the engine's against. Figures go to stdout, the last line is
ONE JSON object (bench, database, engine_per_s, raw_per_s, ratio, due_to_sent_p99_s,
raw_due_to_sent_p99_s, and engine_cpu_ms / raw_cpu_ms: CPU of this process per message,
the steadier comparison on a shared machine; engine_busy / raw_busy: that CPU over the
run's wall time; sink_cpu_ms / sink_busy and sink_raw_cpu_ms / sink_raw_busy: the sink
process's own CPU per message and the share of a core it used while the engine, then raw,
sent; detect_s: the detection tick before the dispatch); nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
from bench_support import REPO, free_port, migrated_database

from notifier.cli import _freeze_start_up
from notifier.clock import FrozenClock
from notifier.config import Settings
from notifier.deliver.registry import build_channels
from notifier.ingest.apply import Applier
from notifier.ingest.records import OrderIn
from notifier.pipeline import build_engine
from notifier.runtime import create_runtime
from notifier.store.db import transaction

T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
DUE = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)




def start_sink(port: int, log: Path, delay_ms: float = 0.0,
               cpu_log: Path | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(REPO / "bench/smtp_sink.py"),
                             "--port", str(port), "--log", str(log),
                             "--delay-ms", str(delay_ms),
                             *(["--cpu-log", str(cpu_log)] if cpu_log else [])])
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("SMTP sink did not start")


def seed(settings: Settings, count: int) -> None:
    runtime = create_runtime(settings)
    with transaction(runtime.sessions) as session:
        applier = Applier(session, settings, source="bench", now=T0)
        for i in range(count):
            applier.apply(OrderIn.model_validate({
                "external_id": f"o{i}", "currency": "PLN", "total": "249.00",
                "payment_status": "paid", "placed_at": T0.isoformat(),
                "ship_by": "2026-12-02T12:00:00+01:00",
                "items": [{"name": "Kubek ceramiczny", "quantity": 2, "price": "49.00"}],
                "customer": {"external_id": f"c{i}", "email": f"c{i}@example.pl",
                             "first_name": "Anna", "salutation": "mrs", "locale": "pl"}}))
    runtime.close()


async def engine_run(settings: Settings) -> tuple[int, float, int, float, float, float]:
    """(sent, dispatch seconds, not sent, wall-clock moment the due tick started,
    dispatch CPU seconds of this process, seconds of the detection tick)."""
    runtime = create_runtime(settings, clock=FrozenClock(DUE))
    engine = build_engine(runtime, channels=build_channels(settings))
    _freeze_start_up()  # what `notifier worker` does once its engine is built
    due_at = time.time()
    await engine.detect(DUE)
    detect_s = time.time() - due_at
    started, cpu = time.perf_counter(), time.process_time()
    done = await engine.dispatch(DUE)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    await engine.aclose()
    runtime.close()
    return done["sent"], took, sum(done.values()) - done["sent"], due_at, cpu, detect_s


async def raw_run(port: int, count: int, connections: int, size: int) -> tuple[float, float]:
    """(seconds sending, wall-clock moment it started connecting)."""
    due_at = time.time()
    body = "x" * max(0, size - 300)
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
               for _ in range(connections)]
    await asyncio.gather(*(c.connect() for c in clients))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def pump(client: aiosmtplib.SMTP) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "s@example.pl", f"c{i}@example.pl", "x"
            msg.set_content(body)
            await client.send_message(msg)

    started = time.perf_counter()
    await asyncio.gather(*(pump(c) for c in clients))
    took = time.perf_counter() - started
    await asyncio.gather(*(c.quit() for c in clients))
    return took, due_at


def run_both(args: argparse.Namespace, port: int
             ) -> tuple[int, float, int, float, float, float, float, float, float]:
    """The engine run then the raw run against the same sink."""
    with tempfile.TemporaryDirectory() as tmp, migrated_database(args.database,
                                                                   Path(tmp)) as url:
        settings = Settings(
            database={"url": url},
            paths={"data_dir": tmp, "rules_dir": REPO / "rules",
                   "templates_dir": REPO / "templates"},
            email={"transport": "smtp", "smtp": {"host": "127.0.0.1", "port": port,
                                                 "starttls": False,
                                                 "pool_size": args.connections}},
            delivery={"concurrency": args.connections, "batch_size": 200,
                      "frequency_caps": {}},
        )
        seed(settings, args.messages)
        sent, engine_s, other, due_at, engine_cpu, detect_s = asyncio.run(
            engine_run(settings))
        raw_cpu = time.process_time()
        raw_s, raw_due_at = asyncio.run(raw_run(port, args.messages, args.connections, 6000))
        raw_cpu = time.process_time() - raw_cpu
    return sent, engine_s, other, due_at, raw_s, engine_cpu, raw_cpu, raw_due_at, detect_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    port = free_port()
    with tempfile.TemporaryDirectory() as logs:
        accepted_log, cpu_log = Path(logs) / "accepted.txt", Path(logs) / "cpu.txt"
        sink = start_sink(port, accepted_log, cpu_log=cpu_log)
        try:
            (sent, engine_s, other, due_at, raw_s, engine_cpu, raw_cpu, raw_due_at,
             detect_s) = run_both(args, port)
        finally:
            sink.terminate()
            sink.wait()
        accepted = [float(line) for line in accepted_log.read_text().split()]
        sink_cpu = [float(line) for line in cpu_log.read_text().split()]
    # The engine ran first: its messages are the first ``sent`` the sink accepted.
    waits = sorted(moment - due_at for moment in accepted[:sent])
    due_to_sent_p99 = _p99(waits)
    raw_waits = sorted(moment - raw_due_at for moment in accepted[sent:])
    raw_due_to_sent_p99 = _p99(raw_waits)

    engine_rate, raw_rate = sent / engine_s, args.messages / raw_s
    # What the sink itself spent per message while each side sent, and how busy that kept
    # its core (first to last acceptance of each run).
    sink_ms, sink_busy = _sink_share(accepted[:sent], sink_cpu[:sent])
    sink_raw_ms, sink_raw_busy = _sink_share(accepted[sent:], sink_cpu[sent:])
    print(f"database {args.database}, {args.connections} SMTP connections, "
          f"{args.messages:,} messages")
    print(f"engine (claim, policies, render, send, record): {sent:,} sent in {engine_s:6.2f} s "
          f"= {engine_rate:7.1f} msg/s" + (f"  ({other} not sent!)" if other else ""))
    print(f"raw aiosmtplib, pre-built messages:           {args.messages:,} sent in "
          f"{raw_s:6.2f} s = {raw_rate:7.1f} msg/s")
    print(f"ratio engine/raw: {engine_rate / raw_rate:.2f}  "
          f"(engine cost per message: {engine_s / max(sent, 1) * 1000:.2f} ms, "
          f"raw: {raw_s / args.messages * 1000:.2f} ms)")
    engine_cpu_ms = engine_cpu / max(sent, 1) * 1000
    raw_cpu_ms = raw_cpu / args.messages * 1000
    print(f"CPU of this process per message: engine {engine_cpu_ms:.2f} ms, raw "
          f"{raw_cpu_ms:.2f} ms (raw/engine {raw_cpu_ms / engine_cpu_ms:.2f}; steadier than "
          "the rates when other work shares the cores)")
    engine_busy, raw_busy = engine_cpu / engine_s, raw_cpu / raw_s
    print(f"busy: engine process {engine_busy:.0%} of its run, raw {raw_busy:.0%}; the sink "
          f"{sink_ms:.2f} ms of CPU per message ({sink_busy:.0%} of a core) while the engine "
          f"sent, {sink_raw_ms:.2f} ms ({sink_raw_busy:.0%}) while raw did")
    if due_to_sent_p99 is not None:
        print(f"due -> accepted by the sink: median {waits[len(waits) // 2]:.2f} s, "
              f"p99 {due_to_sent_p99:.2f} s (detect tick of {detect_s:.2f} s and dispatch "
              "back to back)")
    if raw_due_to_sent_p99 is not None:
        print(f"raw, start -> accepted by the sink: median "
              f"{raw_waits[len(raw_waits) // 2]:.2f} s, p99 {raw_due_to_sent_p99:.2f} s")
    print(json.dumps({"bench": "dispatch", "database": args.database,
                      "engine_per_s": round(engine_rate, 1), "raw_per_s": round(raw_rate, 1),
                      "ratio": round(engine_rate / raw_rate, 3),
                      "due_to_sent_p99_s": None if due_to_sent_p99 is None
                      else round(due_to_sent_p99, 3),
                      "raw_due_to_sent_p99_s": None if raw_due_to_sent_p99 is None
                      else round(raw_due_to_sent_p99, 3),
                      "engine_cpu_ms": round(engine_cpu_ms, 2),
                      "raw_cpu_ms": round(raw_cpu_ms, 2),
                      "engine_busy": round(engine_busy, 3), "raw_busy": round(raw_busy, 3),
                      "sink_cpu_ms": round(sink_ms, 3), "sink_busy": round(sink_busy, 3),
                      "sink_raw_cpu_ms": round(sink_raw_ms, 3),
                      "sink_raw_busy": round(sink_raw_busy, 3),
                      "detect_s": round(detect_s, 3)}))


def _p99(waits: list[float]) -> float | None:
    return waits[min(len(waits) - 1, int(len(waits) * 0.99))] if waits else None


def _sink_share(accepted: list[float], cpu: list[float]) -> tuple[float, float]:
    """(sink CPU ms per message, fraction of a core) between a run's first and last
    acceptance."""
    if len(cpu) < 2 or accepted[-1] <= accepted[0]:
        return 0.0, 0.0
    spent = cpu[-1] - cpu[0]
    return spent / (len(cpu) - 1) * 1000, spent / (accepted[-1] - accepted[0])


if __name__ == "__main__":
    main()
