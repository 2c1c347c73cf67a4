"""Webhooks per second into a running ``notifier api`` (uvicorn), beside parsing alone.

    .venv/bin/python bench/ingest.py                         # SQLite, 3,000 webhooks
    .venv/bin/python bench/ingest.py --database postgresql --requests 5000

Signed Shopify ``orders/create`` deliveries with distinct event ids are posted by
``--clients`` concurrent HTTP clients to a server in another process; every answer comes
after the payload and its records are durably committed. "Parse only" maps the same
payloads onto records in-process with no HTTP and no database: the ceiling the write
path is measured against. "In-process" then sends as many new orders straight to the
ingestor (verify, parse, store, commit; no HTTP), one after another, and times each.
Figures go to stdout; nothing is asserted.
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
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import httpx
from bench_support import REPO, free_port, migrated_database

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


async def post_all(url: str, payloads: list[bytes], clients: int) -> float:
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for item in enumerate(payloads):
        queue.put_nowait(item)
    failures = 0

    async def client() -> None:
        nonlocal failures
        async with httpx.AsyncClient(timeout=30) as http:
            while not queue.empty():
                i, body = queue.get_nowait()
                response = await http.post(url, content=body, headers={
                    "Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
                    "X-Shopify-Hmac-Sha256": hmac_base64(body, SECRET),
                    "X-Shopify-Event-Id": f"bench-{i}"})
                failures += response.status_code != 200

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    took = time.perf_counter() - started
    if failures:
        print(f"  {failures} requests failed!")
    return len(payloads) / took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    payloads = bodies(args.requests)
    print(f"parse only (verify + JSON + map to records): {parse_only(payloads):8.0f} /s")

    with tempfile.TemporaryDirectory() as tmp, migrated_database(args.database,
                                                                   Path(tmp)) as url:
        port = free_port()
        env = {**os.environ, "NOTIFIER_DATABASE__URL": url,
               "NOTIFIER_SHOPIFY__WEBHOOK_SECRET": SECRET, "NOTIFIER_PATHS__DATA_DIR": tmp}
        server = subprocess.Popen([sys.executable, "-m", "notifier.cli", "api", "--port",
                                   str(port)], env=env, cwd=tmp,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
                    break
                except httpx.HTTPError:
                    time.sleep(0.05)
            rate = asyncio.run(post_all(f"http://127.0.0.1:{port}/webhooks/shopify",
                                        payloads, args.clients))
            print(f"{args.database}: {args.requests:,} signed webhooks, {args.clients} clients, "
                  f"one uvicorn process: {rate:8.0f} /s (answered after a durable commit)")
            wall, cpu = in_process(url, bodies(args.requests, first=10_000 + args.requests), tmp)
            print(f"{args.database}: in-process, one at a time: {wall:.2f} ms per webhook "
                  f"({cpu:.2f} ms CPU)")
        finally:
            server.terminate()
            server.wait()

if __name__ == "__main__":
    main()
