"""After downtime and on old data: an apology still true is still owed, a stale reminder is
skipped, and a backfill of old orders sends nothing — each with its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.clock import FrozenClock
from notifier.detect.simulate import format_simulation, simulate
from notifier.pipeline import Engine
from notifier.runtime import Runtime
from tests.engine.conftest import notifications, outbox_files, put, tick

T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
SHIP_BY = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ANNA = {"external_id": "c-anna", "email": "anna@example.pl", "first_name": "Anna",
        "locale": "pl", "timezone": "Europe/Warsaw",
        "consents": [{"channel": "email", "purpose": "marketing", "granted": True,
                      "at": "2026-01-01T00:00:00Z"}]}


def order(external_id: str, placed_at: datetime, **extra: object) -> dict[str, object]:
    return {"external_id": external_id, "currency": "PLN", "total": "120.00",
            "payment_status": "paid", "status": "confirmed", "placed_at": placed_at.isoformat(),
            "customer": ANNA, **extra}


async def test_still_unshipped_after_five_days_without_ticks_is_apologised_for_once(
    runtime: Runtime, engine: Engine, clock: FrozenClock
) -> None:
    put(runtime, "order", order("1001", T0, ship_by=SHIP_BY.isoformat()), now=T0)
    await tick(engine, clock, SHIP_BY - timedelta(hours=1))  # the last tick before the outage
    resumed = SHIP_BY + timedelta(days=5)
    await tick(engine, clock, resumed)
    await tick(engine, clock, resumed + timedelta(minutes=1))
    [n] = notifications(runtime, rule="order-unshipped")
    assert n.status == "sent", n.reason
    assert len(outbox_files(runtime, "email")) == 1


async def test_a_cart_reminder_two_days_overdue_is_skipped_as_stale(
    runtime: Runtime, engine: Engine, clock: FrozenClock
) -> None:
    put(runtime, "cart", {"external_id": "K-1", "currency": "PLN", "value": "98.00",
                          "items": [{"name": "Kubek", "quantity": 2, "price": "49.00"}],
                          "last_activity_at": T0.isoformat(), "customer": ANNA}, now=T0)
    # The first reminder was due at T0 + 1h; nothing ticked until two days after that.
    await tick(engine, clock, T0 + timedelta(hours=1, days=2))
    reminder = notifications(runtime, rule="cart-abandoned", step=0)[0]
    assert reminder.status == "skipped"
    assert reminder.reason == (
        "stale: due at 2026-11-30T10:15:00+00:00, older than max_delay")
    assert outbox_files(runtime, "email") == []


async def test_an_order_placed_90_days_ago_in_a_backfill_sends_nothing(
    runtime: Runtime, engine: Engine, clock: FrozenClock
) -> None:
    placed = T0 - timedelta(days=90)
    put(runtime, "order", order("OLD-1", placed), now=T0)  # ship-by from the service level
    put(runtime, "order", order("NEW-1", T0), now=T0)
    await tick(engine, clock, T0 + timedelta(days=3))
    old, new = notifications(runtime, rule="order-unshipped")
    assert old.status == "skipped"
    assert old.reason == (f"lookback: order placed {placed.isoformat()}, more than 30d before "
                          f"{(T0 + timedelta(days=3)).isoformat()}")
    assert new.status == "sent"
    assert len(outbox_files(runtime, "email")) == 1


async def test_simulate_shows_what_a_first_sync_would_send(
    runtime: Runtime, engine: Engine
) -> None:
    live = T0 + timedelta(days=3)
    put(runtime, "order", order("OLD-1", T0 - timedelta(days=90)), now=live)
    put(runtime, "order", order("OLD-2", T0 - timedelta(days=60)), now=live)
    put(runtime, "order", order("NEW-1", T0), now=live)
    sim = simulate(runtime.sessions, engine.rules(), live, live + timedelta(days=1),
                   first_run=True)
    step = sim.steps[("order-unshipped", 0)]
    assert (step.messages, step.too_old, step.stale) == (1, 2, 0)
    assert "order-unshipped step 1 [order_unshipped]: 1 messages (email=1)" in (
        format_simulation(sim))
    assert "outside lookback 2" in format_simulation(sim)
    # Without --first-run only what comes due inside the window counts.
    later = simulate(runtime.sessions, engine.rules(), live, live + timedelta(days=1))
    assert later.steps[("order-unshipped", 0)].messages == 0
    assert notifications(runtime) == []
