"""A small shop's worth of history, put in through the real API and engine: customers,
an abandoned cart and a late order arrive as API calls (so raw payloads are stored), the
engine ticks and writes its messages to the file outbox."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from notifier.clock import FrozenClock
from notifier.pipeline import build_engine
from notifier.runtime import Runtime

T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
ZOFIA = {"external_id": "c-zofia", "email": "zofia.przybyszewska@example.pl",
         "phone": "+48601234567", "first_name": "Zofia", "last_name": "Przybyszewska",
         "salutation": "ms", "locale": "pl", "timezone": "Europe/Warsaw"}
JAN = {"external_id": "c-jan", "email": "jan.kowalski@example.pl", "phone": "+48602000111",
       "first_name": "Jan", "last_name": "Kowalski", "locale": "pl"}
CONSENT = [{"channel": "email", "purpose": "marketing", "granted": True,
            "at": "2026-01-01T00:00:00Z"}]
API = {"authorization": "Bearer test-key"}


def post(client: TestClient, clock: FrozenClock, kind: str, body: dict[str, Any],
         at: datetime) -> None:
    clock.set(at)
    response = client.post(f"/v1/{kind}", json=body, headers=API)
    assert response.status_code in (200, 201, 202), response.text


def shop_history(runtime: Runtime, client: TestClient, clock: FrozenClock) -> datetime:
    """Put the history in and run the engine; returns the moment it ends at."""
    for n, (customer, order_no) in enumerate(((ZOFIA, "1001"), (JAN, "1002"))):
        post(client, clock, "orders", {
            "external_id": order_no, "number": order_no, "currency": "PLN",
            "total": "249.00", "payment_status": "paid",
            "placed_at": (T0 + timedelta(minutes=n)).isoformat(),
            "ship_by": "2026-12-02T12:00:00+01:00", "deliver_by": "2026-12-04T12:00:00+01:00",
            "customer": customer}, T0 + timedelta(minutes=n))
        active = datetime(2026, 12, 1, 9, n, tzinfo=UTC)
        post(client, clock, "carts", {
            "external_id": f"K-{order_no}", "currency": "PLN", "value": "98.00",
            "items": [{"name": "Kubek", "quantity": 2, "price": "49.00"}],
            "recovery_url": f"https://sklep.example.pl/cart/K-{order_no}",
            "last_activity_at": active.isoformat(),
            "customer": {**customer, "consents": CONSENT}}, active)
    client.post("/v1/orders", content=b'{"external_id": 5', headers=API)  # one rejected
    engine = build_engine(runtime, owner="seed-worker")

    async def run() -> datetime:
        moment = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        try:
            for hours in (2, 30, 40):
                moment = datetime(2026, 12, 1, 9, 0, tzinfo=UTC) + timedelta(hours=hours)
                clock.set(moment)
                await engine.run_due(moment)
        finally:
            await engine.aclose()
        return moment

    # In a thread of its own: the browser tests' Playwright holds this thread's loop.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(run())).result()
