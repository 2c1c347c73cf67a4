"""shipment.at_risk through the engine and the shipped (dry-run) rule, on both backends:
once per parcel and promise, never after delivery, never once the promise has passed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from notifier.clock import FrozenClock
from notifier.detect.episodes import episode_token
from notifier.pipeline import Engine
from notifier.runtime import Runtime
from notifier.transit.model import Position, TransitModel
from tests.engine.conftest import notifications, put, tick

from .conftest import store
from .synthetic import SLOW, WARSAW

HANDED = datetime(2026, 12, 4, 14, 0, tzinfo=WARSAW)  # a Friday
HUB = HANDED + timedelta(hours=5)
PROMISE = datetime(2026, 12, 8, 23, 59, 59, tzinfo=WARSAW)  # end of the 2nd business day
ANNA = {"external_id": "c-anna", "email": "anna@example.pl", "first_name": "Anna",
        "locale": "pl", "timezone": "Europe/Warsaw"}


def order(ref: str, promise: datetime = PROMISE, **extra: object) -> dict[str, object]:
    return {"external_id": ref, "currency": "PLN", "total": "99.00", "status": "confirmed",
            "payment_status": "paid", "customer": ANNA, "shipping_method": "Kurier",
            "ship_country": "pl", "ship_postcode": "38-500",
            "placed_at": (HANDED - timedelta(hours=20)).isoformat(),
            "deliver_by": promise.isoformat(), **extra}


def parcel(ref: str, *events: tuple[datetime, str], **extra: object) -> dict[str, object]:
    return {"external_id": f"s-{ref}", "order_external_id": ref, "carrier": "SlowCourier",
            "shipped_at": HANDED.isoformat(),
            "events": [{"at": at.isoformat(), "status": status} for at, status in events],
            **extra}


def crossing(model: TransitModel, promise: datetime = PROMISE) -> datetime:
    position = Position(SLOW, "kurier", "PL-38", "in_transit", HUB)
    found = model.crossing(position, promise, 0.6)
    assert found is not None, "the synthetic slow tail puts this parcel at risk"
    return found[0]


def at_risk(runtime: Runtime) -> list[str]:
    return [n.key for n in notifications(runtime, rule="shipment-at-risk")]


@pytest.fixture
def model(runtime: Runtime, fitted: TransitModel) -> TransitModel:
    store(runtime, fitted)
    return fitted


async def test_fires_once_per_parcel_and_promise(runtime: Runtime, engine: Engine,
                                                 clock: FrozenClock, model: TransitModel) -> None:
    due = crossing(model)
    assert HUB < due < PROMISE
    put(runtime, "order", order("1"), now=HANDED)
    put(runtime, "shipment", parcel("1", (HANDED, "in_transit"), (HUB, "in_transit")), now=HUB)

    await tick(engine, clock, due - timedelta(minutes=1))
    assert at_risk(runtime) == []
    await tick(engine, clock, due)
    [n] = notifications(runtime, rule="shipment-at-risk")
    assert n.status == "dry_run"
    assert n.key.endswith(f":{episode_token(PROMISE)}")  # the episode: this promise

    # Still at risk later, and when the parcel is stored again (the scan looks at it
    # afresh): same parcel, same promise, no second notification.
    await tick(engine, clock, due + timedelta(hours=1))
    again = due + timedelta(hours=2)
    put(runtime, "shipment", parcel("1", (HUB, "in_transit"), updated_at=again.isoformat()),
        now=again)
    await tick(engine, clock, again)
    await tick(engine, clock, again + timedelta(hours=6))
    assert len(at_risk(runtime)) == 1

    # A new promise is a new episode: the customer hears about the new date's risk too.
    moved = PROMISE + timedelta(hours=1)
    now = due + timedelta(hours=3)
    put(runtime, "order", order("1", moved, updated_at=now.isoformat()), now=now)
    await tick(engine, clock, now)
    keys = at_risk(runtime)
    assert len(keys) == 2 and keys[1].endswith(f":{episode_token(moved)}")


async def test_never_after_delivery(runtime: Runtime, engine: Engine, clock: FrozenClock,
                                    model: TransitModel) -> None:
    due = crossing(model)
    put(runtime, "order", order("2"), now=HANDED)
    put(runtime, "shipment", parcel("2", (HANDED, "in_transit"), (HUB, "in_transit"),
                                    (due - timedelta(hours=2), "out_for_delivery"),
                                    (due - timedelta(hours=1), "delivered")), now=due)
    for moment in (due, due + timedelta(hours=6), PROMISE - timedelta(hours=1)):
        await tick(engine, clock, moment)
    assert at_risk(runtime) == []


async def test_never_once_the_promise_has_passed(runtime: Runtime, engine: Engine,
                                                 clock: FrozenClock, model: TransitModel) -> None:
    # The scans arrive late, after the promise: shipment.late speaks, at-risk never does.
    after = PROMISE + timedelta(minutes=30)
    put(runtime, "order", order("3"), now=HANDED)
    put(runtime, "shipment", parcel("3", (HANDED, "in_transit"), (HUB, "in_transit")),
        now=after)
    await tick(engine, clock, after)
    await tick(engine, clock, after + timedelta(days=1))
    assert at_risk(runtime) == []
    assert "shipment-late" in {n.rule for n in notifications(runtime)}


async def test_without_a_model_nothing_is_predicted(runtime: Runtime, engine: Engine,
                                                    clock: FrozenClock,
                                                    fitted: TransitModel) -> None:
    due = crossing(fitted)
    put(runtime, "order", order("4"), now=HANDED)
    put(runtime, "shipment", parcel("4", (HANDED, "in_transit"), (HUB, "in_transit")), now=HUB)
    await tick(engine, clock, due)
    assert at_risk(runtime) == []
