"""Cost of storing a storefront push subscription (``POST /push/subscriptions``), in process.

    .venv/bin/python bench/push_capture.py                          # SQLite, 1,000 requests
    .venv/bin/python bench/push_capture.py --database postgresql --requests 2000

Each request is what subscribe.js sends: a new browser subscription for a signed customer
(customer created, subscription stored, two push consents judged and logged), then the same
browser posting again on its next signed-in page (an update that changes nothing). The
app runs in-process behind httpx's ASGI transport: routing, CORS and token checks, the
thread hop and the commit are measured, the network is not. Figures go to stdout and end
with one JSON line; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from bench_support import REPO, migrated_database

from notifier.app import create_app
from notifier.config import Settings
from notifier.deliver.vapid import generate_vapid_keys
from notifier.ingest.customer_tokens import sign_customer_token
from notifier.runtime import create_runtime

ORIGIN, KEY, SECRET = "https://sklep.example.pl", "pk_bench", "bench-token-secret"


def settings(url: str, workdir: Path) -> Settings:
    vapid = generate_vapid_keys()
    return Settings(
        database={"url": url}, paths={"data_dir": workdir, "rules_dir": REPO / "rules",
                                      "templates_dir": REPO / "templates"},
        push={"transport": "webpush", "webpush": {"vapid_private_key": vapid.private_key,
                                                  "vapid_public_key": vapid.public_key},
              "capture": {"enabled": True, "publishable_key": KEY,
                          "allowed_origins": [ORIGIN], "customer_token_secret": SECRET,
                          "rate_limit_per_minute": 1_000_000}})


def body(i: int) -> dict[str, object]:
    point = b"\x04" + i.to_bytes(32, "big") + bytes(32)  # shape only: never encrypted for
    b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()  # noqa: E731
    token = sign_customer_token(f"cust-{i}", secret=SECRET,
                                expires=datetime.now(UTC) + timedelta(hours=1))
    return {"publishable_key": KEY, "customer_token": token,
            "subscription": {"endpoint": f"https://push.example.net/sub/{i:08d}",
                             "keys": {"p256dh": b64(point), "auth": b64(os.urandom(16))}}}


async def timed(client: httpx.AsyncClient, bodies: list[dict[str, object]],
                expect: int) -> list[float]:
    out = []
    for sent in bodies:
        start = time.perf_counter()
        response = await client.post("/push/subscriptions", json=sent)
        out.append((time.perf_counter() - start) * 1000)
        if response.status_code != expect:
            raise SystemExit(f"unexpected {response.status_code}: {response.text}")
    return out


def figures(name: str, ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    row = {"p50_ms": round(statistics.median(ordered), 2),
           "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 2),
           "per_s": round(1000 * len(ms) / sum(ms), 1)}
    print(f"{name:<26} p50 {row['p50_ms']:6.2f} ms   p95 {row['p95_ms']:6.2f} ms   "
          f"{row['per_s']:7.1f}/s")
    return row


async def run(url: str, workdir: Path, count: int) -> dict[str, object]:
    runtime = create_runtime(settings(url, workdir))
    transport = httpx.ASGITransport(app=create_app(runtime))
    bodies = [body(i) for i in range(count)]
    async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                 headers={"Origin": ORIGIN}) as client:
        new = await timed(client, bodies, 201)
        again = await timed(client, bodies, 200)
    runtime.close()
    return {"new_subscription": figures("new subscription", new),
            "same_browser_again": figures("same browser again", again)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, migrated_database(args.database,
                                                                 Path(tmp)) as url:
        print(f"POST /push/subscriptions, {args.requests} requests, {args.database}, in process")
        result = asyncio.run(run(url, Path(tmp), args.requests))
    print(json.dumps({"bench": "push_capture", "database": args.database,
                      "requests": args.requests, **result}))


if __name__ == "__main__":
    main()
