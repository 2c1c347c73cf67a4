"""Webhooks per second into a running ``notifier api`` (uvicorn), beside a bare route.

    .venv/bin/python bench/ingest.py                         # SQLite, 3,000 webhooks
    .venv/bin/python bench/ingest.py --database postgresql --requests 5000

Signed Shopify ``orders/create`` deliveries with distinct event ids are posted by
``--clients`` concurrent keep-alive connections (``http_load.py``: raw HTTP/1.1, about
0.1 ms of CPU per request; httpx spent 3 ms and was the bottleneck) to a server in another
process; every answer comes after the batch holding the payload and its records is
durably committed (group commit, ``notifier/ingest/group_commit.py``). The same
payloads are posted the same way to ``bench/bare_ingest.py``: one FastAPI route served
by uvicorn in its own process that verifies and parses them into our records and stores
nothing, the ceiling the write path is measured against
(``ratio = engine_per_s / bare_per_s``). Both servers run side by side and take
``--rounds`` turns (engine, bare, bare, engine...), each rate the requests over the time
of its own turns: this machine's speed drifts by a quarter over minutes (the bare route's
CPU per request moved 0.26-0.45 ms between runs), which one long run per side turned
into a ratio that moved 0.36-0.50 for the same code. The first 200 requests warm each
server up and are not counted; the server's CPU time per request is read from ``/proc``.
"Parse only" maps the payloads onto records in-process with no HTTP and no database.
"In-process" then sends as many new orders straight to the ingestor (verify, parse,
store, commit; no HTTP), one after another, and times each. Figures go to stdout, the
last line is ONE JSON object (bench, database, engine_per_s, bare_per_s, ratio, p99_ms:
the engine's 99th percentile answer time, bare_p99_ms, engine_cpu_ms and bare_cpu_ms:
server CPU per request; max_ms: the engine's slowest answer; batches, batch_ms and
slow_batches: from the engine's ``/metrics``, its group-commit batches, warm-up
included, their mean apply-and-commit time and how many took over 100 ms, so a p99 set
by one stalled commit shows as such); nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import http_load
import httpx
from bench_support import REPO, free_port, migrated_database
from prometheus_client.parser import text_string_to_metric_families

from notifier.config import Settings
from notifier.ingest.records import AnyRecord
from notifier.ingest.service import Ingestor
from notifier.ingest.shopify import ShopifyAdapter
from notifier.ingest.signatures import hmac_base64
from notifier.store.db import create_db_engine, session_factory

PAYLOAD = json.loads((REPO / "tests/ingest/payloads/shopify_order.json").read_text("utf-8"))
SECRET = "bench-secret"


def bodies(count: int, *, first: int = 10_000) -> list[bytes]:
    out = []
    for i in range(count):
        order = copy.deepcopy(PAYLOAD)
        order["id"] = first + i
        order["name"] = f"#{first + i}"
        order["customer"]["id"] = 50_000 + i % 500
        out.append(json.dumps(order).encode())
    return out


def verify_and_parse(adapter: ShopifyAdapter, body: bytes, now: datetime) -> list[AnyRecord]:
    adapter.verify({"x-shopify-hmac-sha256": hmac_base64(body, SECRET)}, body)
    return adapter.parse("orders/create", json.loads(body), now=now)


def parse_only(payloads: list[bytes]) -> float:
    adapter = ShopifyAdapter([SECRET])
    now = datetime.now(UTC)
    started = time.perf_counter()
    for body in payloads:
        verify_and_parse(adapter, body, now)
    return len(payloads) / (time.perf_counter() - started)


def in_process(url: str, payloads: list[bytes], data_dir: str) -> tuple[float, float]:
    """(wall, CPU) milliseconds per webhook through ``Ingestor.receive``."""
    engine = create_db_engine(url)
    ingestor = Ingestor(session_factory(engine), Settings(paths={"data_dir": data_dir}))
    adapter = ShopifyAdapter([SECRET])
    now = datetime.now(UTC)
    wall, cpu = time.perf_counter(), time.process_time()
    for i, body in enumerate(payloads):
        ingestor.receive(source="shopify", topic="orders/create", dedupe_key=f"in-process-{i}",
                         body=body, parse=partial(verify_and_parse, adapter, body, now), now=now)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    engine.dispose()
    return wall * 1000 / len(payloads), cpu * 1000 / len(payloads)


def signed_requests(payloads: list[bytes], port: int, *, prefix: str) -> list[bytes]:
    """Each payload as a signed Shopify ``orders/create`` delivery with its own event id."""
    return [http_load.request_bytes("/webhooks/shopify", body, {
        "X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": hmac_base64(body, SECRET),
        "X-Shopify-Event-Id": f"{prefix}-{i}"}, port=port) for i, body in enumerate(payloads)]


def post_all(port: int, payloads: list[bytes], clients: int, *,
             prefix: str = "bench") -> tuple[float, list[float]]:
    """(requests per second, each answer's latency in ms)."""
    rate, answers = asyncio.run(http_load.post_all(
        port, signed_requests(payloads, port, prefix=prefix), clients=clients))
    failures = sum(a.status != 200 for a in answers)
    if failures:
        print(f"  {failures} requests failed!")
    return rate, [a.ms for a in answers]


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


class Server:
    """A server process on ``port``; :meth:`cpu_s` is the CPU it has used so far."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process, self.port = process, port

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def served(command: list[str], env: dict[str, str], cwd: str) -> Iterator[Server]:
    """Run a uvicorn server process on a free port until it answers ``/healthz``."""
    port = free_port()
    server = subprocess.Popen([*command, "--port", str(port)], env=env, cwd=cwd,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(400):
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield Server(server, port)
    finally:
        server.terminate()
        server.wait()


def measured(servers: list[Server], payloads: list[bytes], clients: int, rounds: int,
             prefix: str) -> list[tuple[float, list[float], float]]:
    """Per server: (requests/s, latencies in ms, server CPU ms per request) over
    ``rounds`` turns of an equal share of ``payloads`` each (after a short warm-up), the
    servers taking turns in alternating order."""
    for k, server in enumerate(servers):
        post_all(server.port, payloads[:200], clients, prefix=f"{prefix}{k}-warm")
    rest = payloads[200:]
    share = len(rest) // rounds
    took = [0.0] * len(servers)
    cpu = [0.0] * len(servers)
    latencies: list[list[float]] = [[] for _ in servers]
    for turn in range(rounds):
        chunk = rest[turn * share:(turn + 1) * share]
        order = range(len(servers)) if turn % 2 == 0 else reversed(range(len(servers)))
        for k in order:
            server = servers[k]
            before, started = server.cpu_s(), time.perf_counter()
            _, answered = post_all(server.port, chunk, clients, prefix=f"{prefix}{k}-{turn}")
            took[k] += time.perf_counter() - started
            cpu[k] += server.cpu_s() - before
            latencies[k] += answered
    done = share * rounds
    return [(done / took[k], latencies[k], cpu[k] * 1000 / done) for k in range(len(servers))]


def batch_times(port: int) -> dict[str, float]:
    """From the engine's ``/metrics``: its ingest batches so far (warm-up included), their
    mean apply-and-commit time, and how many took longer than 100 ms (each such batch
    held every request in it that long: one is about 1% of 3,000 requests at 32 clients)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", trust_env=False).text
    [family] = [f for f in text_string_to_metric_families(text)
                if f.name == "notifier_ingest_batch_seconds"]
    values = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    count = values[(f"{family.name}_count", None)]
    total = values[(f"{family.name}_sum", None)]
    within = values[(f"{family.name}_bucket", "0.1")]
    return {"batches": count, "batch_ms": total * 1000 / max(count, 1),
            "slow_batches": count - within}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=6,
                        help="turns each server takes, alternating with the other")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    payloads = bodies(args.requests)
    print(f"parse only (verify + JSON + map to records): {parse_only(payloads):8.0f} /s")

    with tempfile.TemporaryDirectory() as tmp, migrated_database(args.database,
                                                                   Path(tmp)) as url:
        env = {**os.environ, "NOTIFIER_DATABASE__URL": url,
               "NOTIFIER_SHOPIFY__WEBHOOK_SECRET": SECRET, "NOTIFIER_PATHS__DATA_DIR": tmp}
        bare_app = [sys.executable, str(REPO / "bench/bare_ingest.py"), "--secret", SECRET]
        with served([sys.executable, "-m", "notifier.cli", "api"], env, tmp) as engine, \
                served(bare_app, env, tmp) as bare_server:
            (rate, latencies, engine_cpu), (bare, bare_latencies, bare_cpu) = measured(
                [engine, bare_server], payloads, args.clients, args.rounds, "bench")
            batches = batch_times(engine.port)
        print(f"{args.database}: {args.requests:,} signed webhooks, {args.clients} clients, "
              f"one uvicorn process: {rate:8.0f} /s (answered after a durable commit), "
              f"p99 {p99(latencies):.0f} ms (slowest {max(latencies):.0f} ms), server CPU "
              f"{engine_cpu:.2f} ms per request")
        print(f"  {batches['batches']:.0f} batches (warm-up included), "
              f"{batches['batch_ms']:.1f} ms each to apply and commit on average, "
              f"{batches['slow_batches']:.0f} over 100 ms")
        print(f"bare FastAPI route (verify + parse, no storage), served the same way, "
              f"turn about: {bare:8.0f} /s, p99 {p99(bare_latencies):.0f} ms, server CPU "
              f"{bare_cpu:.2f} ms per request")
        wall, cpu = in_process(url, bodies(args.requests, first=10_000 + args.requests), tmp)
        print(f"{args.database}: in-process, one at a time: {wall:.2f} ms per webhook "
              f"({cpu:.2f} ms CPU)")
    print(json.dumps({"bench": "ingest", "database": args.database,
                      "engine_per_s": round(rate, 1), "bare_per_s": round(bare, 1),
                      "ratio": round(rate / bare, 3), "p99_ms": round(p99(latencies), 1),
                      "bare_p99_ms": round(p99(bare_latencies), 1),
                      "engine_cpu_ms": round(engine_cpu, 3), "bare_cpu_ms": round(bare_cpu, 3),
                      "max_ms": round(max(latencies), 1),
                      "batches": int(batches["batches"]),
                      "batch_ms": round(batches["batch_ms"], 2),
                      "slow_batches": int(batches["slow_batches"])}))


if __name__ == "__main__":
    main()
