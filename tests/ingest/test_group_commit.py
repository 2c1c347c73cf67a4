"""Group commit: 32 concurrent clients against the real app under uvicorn, on each database.

New orders, redeliveries, stale snapshots and invalid payloads, webhooks and API requests
mixed and shuffled: every valid one is applied once, every invalid one is refused alone
naming its field, and every answer is what the database holds.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import random
import re
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from notifier.runtime import Runtime
from notifier.store.tables import InboundEvent, Order
from tests.conftest import make_settings
from tests.ingest.conftest import load, shopify_headers
from tests.web.conftest import serving

CLIENTS = 32
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
AUTH = {"Authorization": "Bearer test-key"}


@pytest.fixture
def settings(tmp_path, db_url):  # type: ignore[no-untyped-def]
    # A wide window, so batches surely gather concurrent requests on a loaded machine too.
    return make_settings(tmp_path, database={"url": db_url},
                         api={"batch_window_ms": 20, "batch_max_records": 64})


@pytest.fixture
def live_url(runtime: Runtime) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        with serving(runtime, sock) as url:
            yield url
    finally:
        sock.close()


@dataclass
class Post:
    """One request of the mix and what it must get."""

    kind: str  # new, redelivery, stale, older, newer, invalid, api, api-invalid, api-retry
    path: str
    body: bytes
    headers: dict[str, str]
    external_id: str
    field: str = ""  # the field an invalid one must name
    answer: dict[str, Any] = dataclasses.field(default_factory=dict)
    status: int = 0
    replayed: bool = False


def shopify_order(order_id: int, *, customer: int, updated: datetime, total: str,
                  **changes: Any) -> dict[str, Any]:
    order = copy.deepcopy(load("shopify_order.json"))
    order.update(id=order_id, name=f"#{order_id}", updated_at=updated.isoformat(),
                 total_price=total, checkout_token=f"chk-{order_id}")
    order["customer"]["id"] = customer
    order.update(changes)
    return order


def webhook(kind: str, order: dict[str, Any], *, event: str, topic: str = "orders/create",
            field: str = "") -> Post:
    body = json.dumps(order).encode()
    return Post(kind, "/webhooks/shopify", body, shopify_headers(body, topic, event_id=event),
                str(order["id"]), field)


def api_order(kind: str, external_id: str, *, currency: str = "PLN", key: str = "",
              field: str = "") -> Post:
    body = json.dumps({"external_id": external_id, "currency": currency, "total": "42.00",
                       "placed_at": "2026-11-30T10:00:00+01:00",
                       "customer": {"external_id": f"api-c-{external_id}",
                                    "email": f"{external_id.lower()}@example.pl"}}).encode()
    headers = {**AUTH, "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    return Post(kind, "/v1/orders", body, headers, external_id, field)


def the_mix() -> tuple[list[Post], list[Post]]:
    """(posted first, one by one; posted concurrently, shuffled)."""
    first = [webhook("seed", shopify_order(500 + i, customer=9000 + i, total="300.00",
                                           updated=T0 + timedelta(hours=2)), event=f"seed-{i}")
             for i in range(10)]
    mix: list[Post] = []
    for i in range(100):  # 40 customers, so many orders of a batch share one
        order = shopify_order(1000 + i, customer=7000 + i % 40, total="120.00",
                              updated=T0 + timedelta(minutes=i))
        mix.append(webhook("new", order, event=f"new-{i}"))
        if i % 3 == 0:  # Shopify delivering the same event again
            mix.append(webhook("redelivery", order, event=f"new-{i}"))
    for i in range(10):  # older than what the seed stored: must change nothing
        older = shopify_order(500 + i, customer=9000 + i, total="1.00", updated=T0)
        mix.append(webhook("stale", older, event=f"stale-{i}", topic="orders/updated"))
    for i in range(20):  # two snapshots of one order at once: the newer one wins
        mix.append(webhook("older", shopify_order(2000 + i, customer=8000 + i, total="10.00",
                                                  updated=T0), event=f"v1-{i}"))
        mix.append(webhook("newer", shopify_order(2000 + i, customer=8000 + i, total="20.00",
                                                  updated=T0 + timedelta(hours=1)),
                           event=f"v2-{i}", topic="orders/updated"))
    for i in range(15):
        bad = shopify_order(3000 + i, customer=7000 + i, total="5.00", updated=T0)
        bad["line_items"][1]["quantity"] = "a few"
        mix.append(webhook("invalid", bad, event=f"bad-{i}", field="line_items.1.quantity"))
    for i in range(5):
        bad = shopify_order(3100 + i, customer=6000 + i, total="5.00", updated=T0)
        bad["customer"]["phone"] = "call me maybe"
        mix.append(webhook("invalid", bad, event=f"phone-{i}", field="customer.phone"))
    for i in range(20):
        mix.append(api_order("api", f"API-{i}"))
    for i in range(10):
        mix.append(api_order("api-invalid", f"API-BAD-{i}", currency="złoty", field="currency"))
    for i in range(10):  # a client retrying with its Idempotency-Key while the first is open
        mix += [api_order("api-retry", f"API-RETRY-{i}", key=f"retry-{i}") for _ in range(2)]
    random.Random(17).shuffle(mix)
    return first, mix


async def post_all(url: str, posts: list[Post], clients: int) -> None:
    queue: asyncio.Queue[Post] = asyncio.Queue()
    for post in posts:
        queue.put_nowait(post)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60, trust_env=False) as http:
            while not queue.empty():
                post = queue.get_nowait()
                response = await http.post(post.path, content=post.body, headers=post.headers)
                post.status, post.answer = response.status_code, response.json()
                post.replayed = response.headers.get("Idempotent-Replayed") == "true"

    await asyncio.gather(*(client() for _ in range(clients)))


def stored(runtime: Runtime) -> tuple[dict[str, list[Order]], dict[int, InboundEvent]]:
    with runtime.sessions() as session:
        orders: dict[str, list[Order]] = {}
        for order in session.exec(select(Order)):
            orders.setdefault(order.external_id, []).append(order)
        query = select(InboundEvent).order_by(col(InboundEvent.id))
        events = {e.id: e for e in session.exec(query)}
    return orders, events  # type: ignore[return-value]


def test_32_clients_get_what_was_stored(runtime: Runtime, live_url: str) -> None:
    first, mix = the_mix()
    asyncio.run(post_all(live_url, first, 1))
    asyncio.run(post_all(live_url, mix, CLIENTS))
    orders, events = stored(runtime)
    by_kind: dict[str, list[Post]] = {}
    for post in first + mix:
        by_kind.setdefault(post.kind, []).append(post)

    # Every valid request got 200, every invalid one 422 naming its own field.
    for post in first + mix:
        if post.field:
            assert post.status == 422, (post.kind, post.answer)
            assert post.answer["detail"]["field"] == post.field
            assert post.answer["outcome"] == "rejected"
        else:
            assert post.status == 200, (post.kind, post.answer)

    # Every answer that names an event is what that event holds.
    for post in first + mix:
        event_id = post.answer.get("event_id")
        if event_id is not None:
            assert events[event_id].outcome == post.answer["outcome"], post.kind
            assert events[event_id].payload == post.body.decode()

    # Each order once; new orders and API orders as sent.
    assert all(len(rows) == 1 for rows in orders.values())
    for post in by_kind["new"] + by_kind["api"] + by_kind["api-retry"]:
        assert post.external_id in orders, post.kind
    assert len(orders) == 10 + 100 + 20 + 20 + 10

    # A redelivery is applied once: of the two posts of one event, one applied it.
    by_event: dict[str, list[str]] = {}
    for post in by_kind["new"] + by_kind["redelivery"]:
        by_event.setdefault(post.headers["X-Shopify-Event-Id"], []).append(post.answer["outcome"])
    for outcomes in by_event.values():
        assert sorted(outcomes) in (["applied"], ["applied", "duplicate"])
    dedupe = Counter(e.dedupe_key for e in events.values() if e.dedupe_key)
    assert set(dedupe.values()) == {1}

    # An older snapshot never overwrites a newer one, whichever arrived first.
    for post in by_kind["stale"]:
        assert post.answer["outcome"] == "stale"
        assert orders[post.external_id][0].total == pytest.approx(300)
    for post in by_kind["newer"]:
        assert post.answer["outcome"] == "applied"
        assert orders[post.external_id][0].total == pytest.approx(20)
    assert {p.answer["outcome"] for p in by_kind["older"]} <= {"applied", "stale"}

    # An invalid payload is kept raw with its reason and stores no order; its neighbours
    # in the same batch were applied (above).
    for post in by_kind["invalid"] + by_kind["api-invalid"]:
        event = events[post.answer["event_id"]]
        assert event.outcome == "rejected" and event.dedupe_key is None
        assert post.field.split(".")[-1] in (event.error or "")
        assert post.external_id not in orders

    # Two posts under one Idempotency-Key: one answer, the second a replay of the first.
    for i in range(10):
        pair = [p for p in by_kind["api-retry"] if p.headers["Idempotency-Key"] == f"retry-{i}"]
        assert pair[0].answer == pair[1].answer and pair[0].answer["outcome"] == "applied"
        assert sorted(p.replayed for p in pair) == [False, True]

    # And it was group commit: batches held more than one request.
    metrics = httpx.get(live_url + "/metrics", trust_env=False).text
    count = float(re.search(r"^notifier_ingest_batch_requests_count (\S+)$", metrics, re.M)[1])
    total = float(re.search(r"^notifier_ingest_batch_requests_sum (\S+)$", metrics, re.M)[1])
    assert total >= len(first) + len(mix)  # a deferred repeat is counted in two batches
    assert count < len(first) + len(mix) / 2
    # Each batch's apply and commit time is observed once.
    timed = float(re.search(r"^notifier_ingest_batch_seconds_count (\S+)$", metrics, re.M)[1])
    took = float(re.search(r"^notifier_ingest_batch_seconds_sum (\S+)$", metrics, re.M)[1])
    assert timed == count and took > 0
