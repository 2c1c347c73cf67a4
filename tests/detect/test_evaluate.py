"""evaluate(): what is due now, what was passed over, when to look again; and still_active()."""

from dataclasses import FrozenInstanceError, replace
from datetime import datetime

import pytest

from notifier.detect.evaluate import evaluate, still_active
from notifier.detect.rules import Rule
from notifier.domain import Facts
from tests.detect.helpers import DAY, MINUTE, T0, at, cart, customer, order, rule, shipment

ACTIVE_CART = cart(last_activity_at=T0)
CART = Facts(customer=customer(), cart=ACTIVE_CART)


def cart_rule(max_delay: str = "12h") -> Rule:
    """The shipped cart rule's timing: reminders 1 h and 24 h after the last activity."""
    return rule(
        "cart.abandoned", steps=("0h", "23h"), extra=f'max_delay = "{max_delay}"', wait='"1h"'
    )


@pytest.mark.parametrize(
    ("now", "due", "superseded", "stale", "next_at"),
    [
        (at(0.5), None, (), (), at(1)),
        (at(1), 0, (), (), at(24)),
        (at(5), 0, (), (), at(24)),
        (at(13), 0, (), (), at(24)),  # exactly max_delay late: still sent
        (at(13) + MINUTE, None, (), (0,), at(24)),  # a minute more: stale
        (at(24), 1, (), (0,), None),
        (at(36), 1, (), (0,), None),
        (at(36) + MINUTE, None, (), (0, 1), None),
    ],
)
def test_schedule_of_a_two_step_rule(
    now: datetime,
    due: int | None,
    superseded: tuple[int, ...],
    stale: tuple[int, ...],
    next_at: datetime | None,
) -> None:
    result = evaluate(cart_rule(), CART, now)
    assert result.active
    assert result.schedule == (at(1), at(24))
    assert (result.due, result.superseded, result.stale, result.next_at) == (
        due,
        superseded,
        stale,
        next_at,
    )


def test_after_downtime_only_the_latest_due_step_is_sent() -> None:
    result = evaluate(cart_rule(max_delay="2d"), CART, at(30))
    assert (result.due, result.superseded, result.stale) == (1, (0,), ())


def test_after_long_downtime_nothing_is_sent_late() -> None:
    result = evaluate(cart_rule(max_delay="1d"), CART, at(days=5))
    assert (result.active, result.due, result.stale, result.next_at) == (True, None, (0, 1), None)


def test_cart_completed_between_reminders_stops_the_sequence() -> None:
    the_rule = cart_rule()
    assert evaluate(the_rule, CART, at(1)).due == 0
    bought = replace(CART, cart=replace(ACTIVE_CART, completed_at=at(10)))
    result = evaluate(the_rule, bought, at(24))
    assert (result.active, result.due, result.next_at, result.reason) == (
        False,
        None,
        None,
        "cart completed",
    )
    assert not still_active(the_rule, bought, at(24), step=1)


@pytest.mark.parametrize("trigger", ["shipment.late", "shipment.stalled"])
def test_cancelled_order_stops_its_delay_messages(trigger: str) -> None:
    the_rule = rule(trigger, steps=("0h", "2d"))
    facts = Facts(order=order(deliver_by=T0), shipment=shipment(last_event_at=at(-48), events=()))
    first = evaluate(the_rule, facts, at(1))
    assert (first.active, first.due) == (True, 0)
    cancelled = replace(facts, order=order(deliver_by=T0, status="cancelled", cancelled_at=at(2)))
    later = evaluate(the_rule, cancelled, at(2, days=2))
    assert (later.active, later.due, later.next_at) == (False, None, None)


def test_cancelled_order_stops_unshipped_messages() -> None:
    the_rule = rule("order.unshipped", steps=("0h", "1d"))
    assert evaluate(the_rule, Facts(order=order()), at(1)).due == 0
    cancelled = Facts(order=order(status="cancelled", cancelled_at=at(2)))
    assert evaluate(the_rule, cancelled, at(days=1)).active is False


def test_false_condition_is_inactive_but_looks_again_at_the_next_step() -> None:
    the_rule = rule("shipment.late", steps=("0h", "1d"), extra='when = "days_late >= 1"')
    facts = Facts(order=order(deliver_by=T0), shipment=shipment())
    early = evaluate(the_rule, facts, T0)
    assert (early.active, early.due, early.next_at, early.reason) == (
        False,
        None,
        at(days=1),
        "condition false",
    )
    later = evaluate(the_rule, facts, at(days=1))
    assert (later.active, later.due, later.superseded, later.stale) == (True, 1, (0,), ())


def test_failing_condition_is_inactive_and_reported() -> None:
    the_rule = rule("shipment.late", extra="when = \"customer.segment == 'vip'\"")
    result = evaluate(the_rule, Facts(order=order(deliver_by=T0), shipment=shipment()), at(1))
    assert (result.active, result.due, result.reason) == (False, None, "condition failed")
    assert result.error is not None and "customer" in result.error


def test_inapplicable_trigger_gives_no_anchor_and_no_next_look() -> None:
    result = evaluate(cart_rule(), Facts(customer=customer()), at(1))
    assert (result.active, result.anchor, result.schedule, result.next_at) == (
        False,
        None,
        (),
        None,
    )


@pytest.mark.parametrize(
    ("now", "step", "expected"),
    [
        (at(2), None, True),
        (at(2), 0, True),
        (at(2), 1, False),  # not yet due
        (at(13) + MINUTE, 0, False),  # deferred beyond max_delay: drop, do not send late
        (at(24), 1, True),
        (at(24), 5, False),  # no such step
        (at(0.5), None, False),  # the cart is not abandoned yet
    ],
)
def test_still_active(now: datetime, step: int | None, expected: bool) -> None:
    assert still_active(cart_rule(), CART, now, step=step) is expected


def test_still_active_is_false_once_the_cart_is_touched_again() -> None:
    touched = replace(CART, cart=replace(ACTIVE_CART, last_activity_at=at(1.5)))
    assert still_active(cart_rule(), CART, at(2), step=0)
    assert not still_active(cart_rule(), touched, at(2), step=0)


def test_evaluation_is_frozen() -> None:
    result = evaluate(cart_rule(), CART, at(1))
    with pytest.raises(FrozenInstanceError):
        result.due = 1  # type: ignore[misc]


def test_time_is_only_a_parameter() -> None:
    # The same inputs give the same answer, whenever they are asked.
    assert evaluate(cart_rule(), CART, at(5)) == evaluate(cart_rule(), CART, at(5))
    assert evaluate(cart_rule(), CART, at(5) + DAY) != evaluate(cart_rule(), CART, at(5))


# --- max_delay defaults, lookback, episodes ---------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "default"),
    [("cart.abandoned", DAY), ("order.delivered", 7 * DAY), ("order.unshipped", None),
     ("shipment.late", None), ("shipment.stalled", None), ("shipment.exception", None)],
)
def test_max_delay_defaults_per_trigger(trigger: str, default: object) -> None:
    assert rule(trigger).max_delay == default


def test_an_explicit_max_delay_is_honoured_and_none_lifts_it() -> None:
    assert rule("order.unshipped", extra='max_delay = "1d"').max_delay == DAY
    assert rule("cart.abandoned", extra='max_delay = "none"').max_delay is None
    late = Facts(customer=customer(), order=order())
    verdict = evaluate(rule("order.unshipped", extra='max_delay = "1d"'), late, at(days=5))
    assert (verdict.due, verdict.stale) == (None, (0,))


def test_a_reason_that_holds_is_sent_however_late() -> None:
    late = Facts(customer=customer(), order=order())
    verdict = evaluate(rule("order.unshipped"), late, at(days=20))
    assert (verdict.due, verdict.stale, verdict.too_old) == (0, (), ())


def test_lookback_keeps_old_orders_out_with_its_reason() -> None:
    old = Facts(customer=customer(), order=order(placed_at=at(days=-40)))
    verdict = evaluate(rule("order.unshipped"), old, at(1))
    assert (verdict.active, verdict.due, verdict.too_old) == (True, None, (0,))
    assert verdict.old_reason.startswith("lookback: order placed 2025-01-22T12:00:00+00:00")
    assert "more than 30d" in verdict.old_reason
    assert evaluate(rule("order.unshipped", extra='lookback = "60d"'), old, at(1)).due == 0
    assert evaluate(rule("order.unshipped", extra='lookback = "none"'), old, at(1)).due == 0


def test_the_episode_follows_the_occurrence_not_the_anchor() -> None:
    facts = Facts(customer=customer(), cart=ACTIVE_CART)
    assert evaluate(cart_rule(), facts, at(1)).episode == T0
    touched = Facts(customer=customer(), cart=cart(last_activity_at=at(3)))
    assert evaluate(cart_rule(), touched, at(5)).episode == at(3)
    key = "test-cart-abandoned:0:cart:1:20250303T120000Z"
    assert still_active(cart_rule(), facts, at(2), key=key)
    assert not still_active(cart_rule(), touched, at(5), key=key)  # an earlier episode's
    assert still_active(cart_rule(), touched, at(5), key="test-cart-abandoned:0:cart:1")
