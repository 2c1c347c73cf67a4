"""Episodes: the same occurrence is notified once, a new occurrence starts again.

Every shipped trigger, through the whole engine and the shipped rules, on both backends;
on PostgreSQL each moment is ticked by two workers at once (two runtimes, two connection
pools, two dispatchers), as separate processes would.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from notifier.clock import FrozenClock
from notifier.config import Settings
from notifier.detect.episodes import episode_token, key_token
from notifier.pipeline import Engine, build_engine
from notifier.runtime import Runtime, create_runtime
from notifier.store.db import transaction
from notifier.store.offer_tables import Offer
from notifier.store.tables import Notification, Order
from tests.engine.conftest import notifications, outbox_files, put, tick

T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)  # Monday 10:15 in Warsaw
MARKETING_OK = [{"channel": "email", "purpose": "marketing", "granted": True,
                 "at": "2026-01-01T00:00:00Z"}]
ANNA = {"external_id": "c-anna", "email": "anna@example.pl", "first_name": "Anna",
        "locale": "pl", "timezone": "Europe/Warsaw", "consents": MARKETING_OK}


def _order(**extra: object) -> dict[str, object]:
    return {"external_id": "1001", "currency": "PLN", "total": "249.00",
            "payment_status": "paid", "status": "confirmed", "placed_at": T0.isoformat(),
            "ship_by": "2026-12-01T12:00:00+00:00", "deliver_by": "2026-12-03T12:00:00+00:00",
            "customer": ANNA, **extra}


def _parcel(*events: tuple[datetime, str], **extra: object) -> dict[str, object]:
    return {"external_id": "P-1", "order_external_id": "1001", "carrier": "inpost",
            "tracking_number": "6200", "status": events[-1][1] if events else "in_transit",
            "events": [{"at": at.isoformat(), "status": s} for at, s in events], **extra}


def _iso(moment: datetime) -> str:
    return moment.isoformat()


@dataclass(frozen=True)
class Case:
    """A trigger's situation: ``first`` stores it and returns when its first step is due;
    ``again`` stores a new occurrence (after the first one was told) and returns its due
    time. ``episodes`` are the two occurrences' episode moments."""

    rule: str
    first: Callable[[Runtime], datetime]
    again: Callable[[Runtime, datetime], datetime]
    episodes: tuple[datetime, datetime]


def _cart(runtime: Runtime, active: datetime) -> None:
    put(runtime, "cart", {"external_id": "K-1", "currency": "PLN", "value": "98.00",
                          "items": [{"name": "Kubek", "quantity": 2, "price": "49.00"}],
                          "last_activity_at": _iso(active), "customer": ANNA}, now=active)


CART_1, CART_2 = T0, T0 + timedelta(days=2)


def cart_first(runtime: Runtime) -> datetime:
    _cart(runtime, CART_1)
    return CART_1 + timedelta(hours=1)


def cart_again(runtime: Runtime, _: datetime) -> datetime:
    _cart(runtime, CART_2)  # the customer came back and left again
    return CART_2 + timedelta(hours=1)


SHIP_BY_1 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SHIP_BY_2 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def unshipped_first(runtime: Runtime) -> datetime:
    put(runtime, "order", _order(), now=T0)
    return SHIP_BY_1 + timedelta(hours=4)  # the shipped rule's grace


def unshipped_again(runtime: Runtime, due: datetime) -> datetime:
    # The shop re-promises a new ship-by date, and misses it again.
    put(runtime, "order", _order(ship_by=_iso(SHIP_BY_2), deliver_by="2026-12-08T12:00:00Z"),
        now=due + timedelta(hours=1))
    return SHIP_BY_2 + timedelta(hours=4)


PROMISE_1 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
PROMISE_2 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def late_first(runtime: Runtime) -> datetime:
    put(runtime, "order", _order(shipped_at=_iso(T0 + timedelta(hours=3))), now=T0)
    put(runtime, "shipment", _parcel((T0 + timedelta(hours=3), "in_transit")), now=T0)
    return PROMISE_1


def late_again(runtime: Runtime, due: datetime) -> datetime:
    put(runtime, "order", _order(shipped_at=_iso(T0 + timedelta(hours=3)),
                                 deliver_by=_iso(PROMISE_2)), now=due + timedelta(hours=1))
    return PROMISE_2


SCAN_1 = T0 + timedelta(hours=3)
SCAN_2 = SCAN_1 + timedelta(days=3)


def stalled_first(runtime: Runtime) -> datetime:
    put(runtime, "order", _order(shipped_at=_iso(SCAN_1)), now=T0)
    put(runtime, "shipment", _parcel((SCAN_1, "in_transit")), now=SCAN_1)
    return SCAN_1 + timedelta(hours=48)


def stalled_again(runtime: Runtime, _: datetime) -> datetime:
    # The parcel moves again, then stalls again.
    put(runtime, "shipment", _parcel((SCAN_1, "in_transit"), (SCAN_2, "in_transit")),
        now=SCAN_2)
    return SCAN_2 + timedelta(hours=48)


FAIL_1 = T0 + timedelta(days=1)
FAIL_2 = T0 + timedelta(days=2)


def exception_first(runtime: Runtime) -> datetime:
    put(runtime, "order", _order(shipped_at=_iso(SCAN_1)), now=T0)
    put(runtime, "shipment", _parcel((SCAN_1, "in_transit"), (FAIL_1, "attempted_delivery")),
        now=FAIL_1)
    return FAIL_1


def exception_again(runtime: Runtime, _: datetime) -> datetime:
    # A second failed delivery attempt, the next day.
    put(runtime, "shipment", _parcel((SCAN_1, "in_transit"), (FAIL_1, "attempted_delivery"),
                                     (FAIL_2, "attempted_delivery")), now=FAIL_2)
    return FAIL_2


DELIVERED_1 = T0 + timedelta(days=2)
DELIVERED_2 = T0 + timedelta(days=9)


def delivered_first(runtime: Runtime) -> datetime:
    put(runtime, "order", _order(status="delivered", delivered_at=_iso(DELIVERED_1)), now=T0)
    return DELIVERED_1 + timedelta(days=3)


def delivered_again(runtime: Runtime, due: datetime) -> datetime:
    # A replacement delivered a week later (after a return): a delivery of its own.
    put(runtime, "order", _order(status="delivered", delivered_at=_iso(DELIVERED_2)),
        now=DELIVERED_2)
    return DELIVERED_2 + timedelta(days=3)


CASES = {
    "cart.abandoned": Case("cart-abandoned", cart_first, cart_again, (CART_1, CART_2)),
    "order.unshipped": Case("order-unshipped", unshipped_first, unshipped_again,
                            (SHIP_BY_1, SHIP_BY_2)),
    "shipment.late": Case("shipment-late", late_first, late_again, (PROMISE_1, PROMISE_2)),
    "shipment.stalled": Case("shipment-stalled", stalled_first, stalled_again,
                             (SCAN_1, SCAN_2)),
    "shipment.exception": Case("shipment-exception", exception_first, exception_again,
                               (FAIL_1, FAIL_2)),
    "order.delivered": Case("order-delivered-followup", delivered_first, delivered_again,
                            (DELIVERED_1, DELIVERED_2)),
}


@pytest.fixture
def workers(runtime: Runtime, engine: Engine, settings: Settings
            ) -> Iterator[list[tuple[Engine, FrozenClock]]]:
    """One worker on SQLite; on PostgreSQL a second, with its own runtime and pool."""
    pairs: list[tuple[Engine, FrozenClock]] = [(engine, runtime.clock)]  # type: ignore[list-item]
    extra: list[Runtime] = []
    if settings.database.url.startswith("postgresql"):
        clock = FrozenClock(T0)
        other = create_runtime(settings, clock=clock)
        extra.append(other)
        pairs.append((build_engine(other, owner="second-worker"), clock))
    yield pairs
    for built, _ in pairs[1:]:
        asyncio.run(built.aclose())
    for rt in extra:
        rt.close()


async def tick_all(workers: list[tuple[Engine, FrozenClock]], moment: datetime) -> None:
    """Every worker ticks ``moment`` at the same time (each in its own thread and loop)."""
    if len(workers) == 1:
        engine, clock = workers[0]
        await tick(engine, clock, moment)
        return
    start = threading.Barrier(len(workers))

    def run(engine: Engine, clock: FrozenClock) -> None:
        clock.set(moment)
        start.wait()
        asyncio.run(engine.run_due(moment))

    await asyncio.gather(*(asyncio.to_thread(run, e, c) for e, c in workers))


@pytest.mark.parametrize("trigger", list(CASES))
async def test_one_notification_per_episode(
    trigger: str, runtime: Runtime, workers: list[tuple[Engine, FrozenClock]]
) -> None:
    case = CASES[trigger]
    due = case.first(runtime)
    await tick_all(workers, due - timedelta(minutes=1))
    assert notifications(runtime, rule=case.rule) == []
    await tick_all(workers, due)
    await tick_all(workers, due + timedelta(minutes=30))
    [first] = notifications(runtime, rule=case.rule)
    assert (first.step, first.status) == (0, "sent"), first.reason
    assert key_token(first.key) == episode_token(case.episodes[0])

    due_again = case.again(runtime, due)
    await tick_all(workers, due_again)
    await tick_all(workers, due_again + timedelta(minutes=30))
    told = notifications(runtime, rule=case.rule, step=0)
    assert [key_token(n.key) for n in told] == [episode_token(e) for e in case.episodes]
    assert [n.status for n in told] == ["sent", "sent"], [n.reason for n in told]
    # One message per notification left the process, whatever the number of workers.
    assert len(outbox_files(runtime, "email")) == len(notifications(runtime, status="sent"))


async def test_cart_abandoned_again_is_reminded_again_within_the_frequency_cap(
    runtime: Runtime, engine: Engine, clock: FrozenClock
) -> None:
    _cart(runtime, T0)
    await tick(engine, clock, T0 + timedelta(hours=1))
    # Back two hours later, then gone again: a new episode, due an hour after.
    _cart(runtime, T0 + timedelta(hours=3))
    await tick(engine, clock, T0 + timedelta(hours=4))
    first, again = notifications(runtime, rule="cart-abandoned", step=0)
    assert first.status == "sent"
    # Marketing is capped at 1 message per customer per 24 h: the new reminder waits.
    assert again.status == "pending" and "frequency cap" in (again.reason or "")
    assert again.due_at == first.sent_at + timedelta(hours=24)  # type: ignore[operator]

    await tick(engine, clock, again.due_at)
    first, again = notifications(runtime, rule="cart-abandoned", step=0)
    assert again.status == "sent"
    assert len(outbox_files(runtime, "email")) == 2


async def test_a_reminder_of_an_earlier_episode_is_not_sent(
    runtime: Runtime, engine: Engine, clock: FrozenClock
) -> None:
    _cart(runtime, T0)
    await tick(engine, clock, T0 + timedelta(hours=1))
    _cart(runtime, T0 + timedelta(hours=3))
    await tick(engine, clock, T0 + timedelta(hours=4))  # episode 2's reminder, capped
    # And once more before the cap lets episode 2's reminder go: episode 3.
    _cart(runtime, T0 + timedelta(hours=10))
    await tick(engine, clock, T0 + timedelta(hours=25, minutes=5))
    _, second, third = notifications(runtime, rule="cart-abandoned", step=0)
    assert second.status == "skipped"
    assert second.reason is not None and "a new occurrence began" in second.reason
    assert third.status == "sent"
    assert len(outbox_files(runtime, "email")) == 2


async def test_one_delay_compensation_per_customer_across_episodes(
    runtime: Runtime, engine: Engine, clock: FrozenClock
) -> None:
    due = unshipped_first(runtime)
    await tick(engine, clock, due)
    due_again = unshipped_again(runtime, due)
    await tick(engine, clock, due_again)
    first, again = notifications(runtime, rule="order-unshipped")
    assert (first.status, again.status) == ("sent", "sent")
    with runtime.sessions() as session:
        issued = session.exec(select(Offer).where(Offer.status != "void")).all()
    # The delay-compensation policy allows one offer per customer per 30 days.
    assert [o.notification_id for o in issued] == [first.id]


@pytest.mark.parametrize(("detected", "expected"), [(SHIP_BY_1 + timedelta(hours=4), 0),
                                                    (SHIP_BY_1 - timedelta(days=3), 1)])
async def test_a_notification_from_before_episodes_covers_its_own_occurrence(
    detected: datetime, expected: int, runtime: Runtime, engine: Engine, clock: FrozenClock
) -> None:
    due = unshipped_first(runtime)
    with transaction(runtime.sessions) as session:
        order_id = session.exec(select(Order.id)).one()
        session.add(Notification(
            key=f"order-unshipped:0:order:{order_id}", rule="order-unshipped", step=0,
            entity_kind="order", entity_id=order_id, template="order_unshipped",
            purpose="transactional", channels=["email"], status="sent", due_at=detected,
            detected_at=detected))
    await tick(engine, clock, due + timedelta(hours=1))
    # Detected after the ship-by passed: this very occurrence, already told. Detected
    # before it: an earlier occurrence, so this one is new.
    assert len(notifications(runtime, rule="order-unshipped")) == 1 + expected
