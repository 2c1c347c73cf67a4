"""Each trigger at its boundaries, and the situations in which it does not apply."""

from dataclasses import replace
from datetime import datetime

import pytest
from pydantic import ValidationError

from notifier.detect.evaluate import evaluate
from notifier.detect.history import facts_as_of
from notifier.detect.rules import Rule
from notifier.detect.triggers import (
    TRIGGERS,
    ShipmentLateParams,
    ShipmentStalledParams,
    days_late,
)
from notifier.domain import Facts
from tests.detect.helpers import (
    DAY,
    HOUR,
    MINUTE,
    T0,
    at,
    cart,
    customer,
    event,
    order,
    rule,
    shipment,
)

BOUNDARIES = [
    pytest.param(
        rule("cart.abandoned", wait='"1h"'),
        Facts(customer=customer(), cart=cart(last_activity_at=T0)),
        at(1),
        id="cart.abandoned: last activity + wait",
    ),
    pytest.param(
        rule("order.unshipped", grace='"4h"'),
        Facts(customer=customer(), order=order(ship_by=T0)),
        at(4),
        id="order.unshipped: ship_by + grace",
    ),
    pytest.param(
        rule("shipment.late", grace='"2h"'),
        Facts(order=order(deliver_by=at(days=2)), shipment=shipment()),
        at(2, days=2),
        id="shipment.late: deliver_by + grace",
    ),
    pytest.param(
        rule("shipment.stalled", hours='"48h"'),
        Facts(order=order(), shipment=shipment(last_event_at=T0)),
        at(days=2),
        id="shipment.stalled: last scan + hours",
    ),
    pytest.param(
        rule("shipment.stalled", hours="24"),
        Facts(order=order(), shipment=shipment(last_event_at=None, events=())),
        at(days=1),
        id="shipment.stalled: shipped_at + bare hours",
    ),
    pytest.param(
        rule("order.delivered", after='"3d"'),
        Facts(order=order(status="delivered", delivered_at=T0)),
        at(days=3),
        id="order.delivered: delivered_at + after",
    ),
]


@pytest.mark.parametrize(("the_rule", "facts", "anchor"), BOUNDARIES)
def test_not_due_a_minute_before(the_rule: Rule, facts: Facts, anchor: datetime) -> None:
    result = evaluate(the_rule, facts, anchor - MINUTE)
    assert (result.active, result.anchor, result.due) == (True, anchor, None)
    assert result.next_at == anchor


@pytest.mark.parametrize(("the_rule", "facts", "anchor"), BOUNDARIES)
def test_due_at_the_anchor(the_rule: Rule, facts: Facts, anchor: datetime) -> None:
    result = evaluate(the_rule, facts, anchor)
    assert (result.active, result.anchor, result.due, result.next_at) == (True, anchor, 0, None)


@pytest.mark.parametrize(("the_rule", "facts", "anchor"), BOUNDARIES)
def test_still_due_after(the_rule: Rule, facts: Facts, anchor: datetime) -> None:
    result = evaluate(the_rule, facts, anchor + HOUR)
    assert (result.active, result.anchor, result.due) == (True, anchor, 0)


def test_exception_is_due_from_the_carriers_report() -> None:
    report = event(5, "failed_delivery")
    facts = Facts(
        order=order(),
        shipment=shipment(
            status="exception", last_event_at=report.at, events=(event(0, "in_transit"), report)
        ),
    )
    the_rule = rule("shipment.exception")
    earlier = report.at - MINUTE
    before = evaluate(the_rule, facts_as_of(facts, earlier), earlier)  # the report is not in
    assert (before.active, before.due) == (False, None)
    for now in (report.at, report.at + HOUR):
        result = evaluate(the_rule, facts, now)
        assert (result.active, result.anchor, result.due) == (True, report.at, 0)


def test_late_warns_before_the_promise_when_the_eta_is_later() -> None:
    promise = at(days=2)
    news = event(3, "in_transit")  # the scan that came with the new ETA
    facts = Facts(
        order=order(deliver_by=promise),
        shipment=shipment(
            eta=promise + DAY, last_event_at=news.at, events=(event(0, "in_transit"), news)
        ),
    )
    result = evaluate(rule("shipment.late"), facts, news.at)
    assert (result.active, result.anchor, result.due) == (True, news.at, 0)
    assert result.anchor < promise
    assert result.days_late == 1


def test_late_eta_within_grace_waits_for_the_promise() -> None:
    promise = at(days=2)
    facts = Facts(order=order(deliver_by=promise), shipment=shipment(eta=promise + HOUR))
    result = evaluate(rule("shipment.late", grace='"2h"'), facts, at(1))
    assert (result.anchor, result.due) == (promise + 2 * HOUR, None)


def test_late_takes_the_earlier_anchor_when_both_hold() -> None:
    promise = at(days=2)
    scan = event(60, "in_transit")  # ETA learned after the promise already passed
    facts = Facts(
        order=order(deliver_by=promise),
        shipment=shipment(eta=promise + 2 * DAY, last_event_at=scan.at, events=(scan,)),
    )
    assert evaluate(rule("shipment.late"), facts, scan.at).anchor == promise


def test_stalled_anchor_moves_with_a_new_scan() -> None:
    facts = Facts(
        order=order(),
        shipment=shipment(
            last_event_at=at(30), events=(event(0, "in_transit"), event(30, "in_transit"))
        ),
    )
    assert evaluate(rule("shipment.stalled"), facts, at(31)).anchor == at(30 + 48)


def test_exception_from_shipment_status_without_events() -> None:
    facts = Facts(shipment=shipment(status="returned", last_event_at=at(8), events=()))
    assert evaluate(rule("shipment.exception"), facts, at(9)).anchor == at(8)


def test_delivered_falls_back_to_the_shipment() -> None:
    facts = Facts(
        order=order(status="shipped"), shipment=shipment(status="delivered", delivered_at=at(5))
    )
    assert evaluate(rule("order.delivered"), facts, at(6)).anchor == at(5, days=3)


def test_unshipped_accepts_cash_on_delivery_unpaid() -> None:
    facts = Facts(order=order(payment_status="pending", payment_method="cash_on_delivery"))
    assert evaluate(rule("order.unshipped"), facts, at(1)).anchor == T0


def test_cart_contact_may_come_from_the_customer() -> None:
    facts = Facts(customer=customer(phone="+48500100200", email=None), cart=cart(email=None))
    assert evaluate(rule("cart.abandoned"), facts, at(2)).active


NOT_APPLICABLE = [
    ("cart.abandoned", Facts(cart=cart(completed_at=at(0.5))), "cart completed"),
    ("cart.abandoned", Facts(cart=cart(items=(), value=0)), "cart empty"),
    ("cart.abandoned", Facts(cart=cart(email=None)), "no contact point"),
    ("cart.abandoned", Facts(cart=cart(last_activity_at=None)), "no activity time"),
    ("cart.abandoned", Facts(customer=customer()), "no cart"),
    ("order.unshipped", Facts(order=order(status="pending")), "not confirmed"),
    ("order.unshipped", Facts(order=order(payment_status="pending")), "payment pending"),
    ("order.unshipped", Facts(order=order(cancelled_at=at(-1))), "order cancelled"),
    ("order.unshipped", Facts(order=order(status="canceled")), "order cancelled"),
    ("order.unshipped", Facts(order=order(is_test=True)), "test order"),
    ("order.unshipped", Facts(order=order(shipped_at=at(-1))), "order shipped"),
    ("order.unshipped", Facts(order=order(), shipment=shipment()), "order shipped"),
    ("order.unshipped", Facts(order=order(ship_by=None)), "no ship-by date"),
    (
        "shipment.late",
        Facts(order=order(), shipment=shipment(status="delivered", delivered_at=at(1))),
        "delivered",
    ),
    ("shipment.late", Facts(order=order(status="cancelled"), shipment=shipment()), "cancelled"),
    ("shipment.late", Facts(order=order(deliver_by=None), shipment=shipment()), "no promised"),
    ("shipment.late", Facts(shipment=shipment()), "no promised"),
    ("shipment.late", Facts(order=order(), shipment=shipment(status="returned")), "exception"),
    ("shipment.stalled", Facts(shipment=shipment(status="delivered")), "not moving"),
    ("shipment.stalled", Facts(shipment=shipment(status="label_created")), "not moving"),
    (
        "shipment.stalled",
        Facts(shipment=shipment(last_event_at=None, events=(), shipped_at=None)),
        "no scan",
    ),
    (
        "shipment.exception",
        Facts(shipment=shipment(events=(event(0, "failed_delivery"), event(2, "in_transit")))),
        "no exception",
    ),
    (
        "shipment.exception",
        Facts(
            shipment=shipment(
                status="exception", last_event_at=at(2), events=(event(2, "in_transit"),)
            )
        ),
        "since the exception",
    ),
    ("order.delivered", Facts(order=order(status="shipped")), "not delivered"),
    ("order.delivered", Facts(order=order(delivered_at=T0, is_test=True)), "test order"),
]


@pytest.mark.parametrize(("trigger", "facts", "reason"), NOT_APPLICABLE)
def test_does_not_apply(trigger: str, facts: Facts, reason: str) -> None:
    check = TRIGGERS[trigger].check(facts, TRIGGERS[trigger].params_model(), at(days=10))
    assert check.anchor is None
    assert reason in check.reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(36, HOUR * 36), ("1d12h", HOUR * 36), (HOUR * 36, HOUR * 36)],
)
def test_stalled_hours(raw: object, expected: object) -> None:
    assert ShipmentStalledParams(hours=raw).hours == expected  # type: ignore[arg-type]


def test_stalled_hours_refuses_a_boolean() -> None:
    with pytest.raises(ValidationError):
        ShipmentStalledParams(hours=True)  # type: ignore[arg-type]


def test_exception_kinds_filter() -> None:
    facts = Facts(shipment=shipment(events=(event(1, "damaged"),)))
    assert evaluate(rule("shipment.exception", kinds='["lost"]'), facts, at(2)).anchor is None
    assert evaluate(rule("shipment.exception", kinds='["damaged"]'), facts, at(2)).anchor == at(1)


@pytest.mark.parametrize(
    ("facts", "now", "expected"),
    [
        (Facts(order=order(deliver_by=None), shipment=shipment()), at(days=9), 0),
        (Facts(order=order(deliver_by=at(days=2)), shipment=shipment()), at(days=1), 0),
        (Facts(order=order(deliver_by=at(days=2)), shipment=shipment()), at(1, days=2), 1),
        (Facts(order=order(deliver_by=at(days=2)), shipment=shipment()), at(days=4), 2),
        (
            Facts(order=order(deliver_by=at(days=2)), shipment=shipment(eta=at(1, days=5))),
            at(days=1),
            4,
        ),
        (
            Facts(order=order(deliver_by=at(days=2)), shipment=shipment(delivered_at=at(days=3))),
            at(days=9),
            1,
        ),
    ],
)
def test_days_late(facts: Facts, now: datetime, expected: int) -> None:
    assert days_late(facts, now) == expected


def test_trigger_metadata_is_complete() -> None:
    for name, trigger in TRIGGERS.items():
        assert trigger.name == name
        assert trigger.entity in {"cart", "order", "shipment"}
        assert trigger.entity in trigger.sees
        trigger.params_model()  # every param has a default


def test_facts_are_frozen() -> None:
    facts = Facts(order=order())
    with pytest.raises(AttributeError):
        facts.order = None  # type: ignore[misc]
    assert replace(facts, order=None).order is None


def test_a_late_parcels_episode_is_the_promise_whichever_anchor_applies() -> None:
    late = TRIGGERS["shipment.late"]
    promise = T0 + 2 * DAY
    early = Facts(order=order(deliver_by=promise), shipment=shipment(eta=promise + DAY))
    passed = Facts(order=order(deliver_by=promise), shipment=shipment())
    params = ShipmentLateParams()
    assert late.check(early, params, T0).anchor == T0  # warned when the ETA was learned
    assert late.check(passed, params, T0).anchor == promise
    assert late.episode(early, params, T0) == late.episode(passed, params, T0) == promise
