"""facts_as_of(): the state known at an earlier moment, for replaying history."""

from dataclasses import replace
from datetime import datetime

import pytest

from notifier.detect.evaluate import evaluate
from notifier.detect.history import facts_as_of
from notifier.domain import Facts
from tests.detect.helpers import T0, at, cart, customer, event, order, rule, shipment

# A parcel's whole life: shipped, scanned, a failed delivery, then delivered.
JOURNEY = shipment(
    status="delivered",
    shipped_at=at(0),
    delivered_at=at(50),
    last_event_at=at(50),
    eta=at(48),
    events=(
        event(0, "in_transit"),
        event(10, "in_transit"),
        event(30, "failed_delivery"),
        event(40, "out_for_delivery"),
        event(50, "delivered"),
    ),
)
ORDER = order(status="delivered", shipped_at=at(0), delivered_at=at(50), deliver_by=at(days=2))
FULL = Facts(customer=customer(), order=ORDER, shipment=JOURNEY)


@pytest.mark.parametrize(
    ("t", "status", "last_event_at", "events", "delivered_at", "eta"),
    [
        (at(5), "in_transit", at(0), 1, None, None),
        (at(30), "failed_delivery", at(30), 3, None, None),
        (at(45), "out_for_delivery", at(40), 4, None, None),
        (at(50), "delivered", at(50), 5, at(50), at(48)),
    ],
)
def test_shipment_as_of(
    t: datetime,
    status: str,
    last_event_at: datetime,
    events: int,
    delivered_at: datetime | None,
    eta: datetime | None,
) -> None:
    past = facts_as_of(FULL, t).shipment
    assert past is not None
    assert (past.status, past.last_event_at, len(past.events)) == (status, last_event_at, events)
    assert (past.delivered_at, past.eta) == (delivered_at, eta)
    assert all(e.at <= t for e in past.events)


@pytest.mark.parametrize(
    ("t", "status", "shipped_at", "delivered_at"),
    [
        (at(-1), "confirmed", None, None),
        (at(1), "shipped", at(0), None),
        (at(50), "delivered", at(0), at(50)),
    ],
)
def test_order_as_of(
    t: datetime, status: str, shipped_at: datetime | None, delivered_at: datetime | None
) -> None:
    past = facts_as_of(FULL, t).order
    assert past is not None
    assert (past.status, past.shipped_at, past.delivered_at) == (status, shipped_at, delivered_at)


def test_order_not_yet_placed_has_no_order_and_no_shipment() -> None:
    past = facts_as_of(FULL, at(days=-3))  # before the order was placed
    assert (past.order, past.shipment, past.customer) == (None, None, FULL.customer)


def test_cancellation_after_t_is_undone() -> None:
    cancelled = order(status="cancelled", cancelled_at=at(3))
    assert facts_as_of(Facts(order=cancelled), at(2)).order == replace(
        cancelled, status="confirmed", cancelled_at=None
    )
    assert facts_as_of(Facts(order=cancelled), at(3)).order == cancelled


def test_pending_order_stays_pending() -> None:
    pending = order(status="pending")
    assert facts_as_of(Facts(order=pending), at(1)).order == pending


def test_cart_completion_after_t_is_undone() -> None:
    bought = cart(completed_at=at(10))
    assert facts_as_of(Facts(cart=bought), at(5)).cart == replace(bought, completed_at=None)
    assert facts_as_of(Facts(cart=bought), at(10)).cart == bought


def test_shipment_without_events_falls_back_to_its_moments() -> None:
    bare = shipment(
        status="delivered", events=(), shipped_at=at(2), delivered_at=at(20), last_event_at=at(20)
    )
    statuses = [facts_as_of(Facts(shipment=bare), at(h)).shipment for h in (1, 3)]
    assert [s.status if s else None for s in statuses] == ["pending", "in_transit"]
    assert facts_as_of(Facts(shipment=bare), at(20)).shipment == bare


def test_nothing_changes_after_the_last_moment() -> None:
    assert facts_as_of(FULL, at(days=30)) == FULL


@pytest.mark.parametrize(
    ("trigger", "t", "due"),
    [
        ("shipment.exception", at(29), None),
        ("shipment.exception", at(30), 0),
        ("shipment.exception", at(39), 0),
        ("shipment.exception", at(41), None),  # out for delivery again: the case closed
        ("shipment.late", at(47), None),
        ("shipment.late", at(48), 0),  # the promise passed
        ("shipment.late", at(50), None),  # delivered
        ("order.delivered", at(49), None),
        ("order.delivered", at(50, days=3), 0),
    ],
)
def test_replaying_history(trigger: str, t: datetime, due: int | None) -> None:
    assert evaluate(rule(trigger), facts_as_of(FULL, t), t).due == due


def test_replaying_an_unshipped_order() -> None:
    shipped_late = order(status="shipped", ship_by=T0, shipped_at=at(6))
    the_rule = rule("order.unshipped", grace='"4h"')
    seen = {
        h: evaluate(the_rule, facts_as_of(Facts(order=shipped_late), at(h)), at(h)).due
        for h in (3, 4, 5, 6)
    }
    assert seen == {3: None, 4: 0, 5: 0, 6: None}
