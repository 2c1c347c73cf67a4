"""A rule switched in the console reaches every worker at its next tick, without reload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.clock import FrozenClock
from notifier.detect.overrides import change_rule
from notifier.pipeline import Engine
from notifier.runtime import Runtime
from notifier.store.db import transaction
from tests.engine.conftest import notifications, put, tick

CONSENT = [{"channel": "email", "purpose": "marketing", "granted": True,
            "at": "2026-01-01T00:00:00Z"}]
ACTIVE = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def cart(runtime: Runtime, n: int) -> None:
    put(runtime, "cart", {
        "external_id": f"K-{n}", "currency": "PLN", "value": "98.00",
        "recovery_url": f"https://sklep.example.pl/cart/K-{n}",
        "last_activity_at": (ACTIVE + timedelta(minutes=n)).isoformat(),
        "customer": {"external_id": f"c-{n}", "email": f"c{n}@example.pl",
                     "consents": CONSENT}}, now=ACTIVE)


def switch(runtime: Runtime, engine: Engine, **change: object) -> None:
    with transaction(runtime.sessions) as session:
        change_rule(session, rules=engine.rules.files, rule="cart-abandoned",
                    actor="ops@shop.example", now=ACTIVE, **change)  # type: ignore[arg-type]


async def test_paused_and_dry_run_apply_at_the_next_tick(
        runtime: Runtime, engine: Engine, clock: FrozenClock) -> None:
    cart(runtime, 1)
    switch(runtime, engine, mode="paused")
    await tick(engine, clock, ACTIVE + timedelta(hours=1, minutes=5))
    [paused] = notifications(runtime, rule="cart-abandoned")
    assert (paused.status, paused.reason) == ("skipped", "rule paused")

    cart(runtime, 2)
    switch(runtime, engine, mode="dry-run")
    await tick(engine, clock, ACTIVE + timedelta(hours=1, minutes=10))
    assert notifications(runtime, rule="cart-abandoned")[1].status == "dry_run"

    cart(runtime, 3)
    switch(runtime, engine, mode="live", rollout=0)
    await tick(engine, clock, ACTIVE + timedelta(hours=1, minutes=15))
    third = notifications(runtime, rule="cart-abandoned")[2]
    assert third.status == "skipped" and third.reason.startswith("outside rollout (0%")

    cart(runtime, 4)
    switch(runtime, engine, rollout=100)
    await tick(engine, clock, ACTIVE + timedelta(hours=1, minutes=20))
    assert notifications(runtime, rule="cart-abandoned")[3].status == "sent"
