"""``when`` conditions: compiled once, sandboxed, loud about mistakes."""

import tomllib
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from notifier.detect.conditions import (
    EXTRA_NAMES,
    ConditionError,
    ConditionFailed,
    compile_condition,
)
from notifier.detect.evaluate import condition_values
from notifier.domain import Facts
from tests.detect.helpers import T0, cart, customer, order

ALL = frozenset({"customer", "order", "shipment", "cart"}) | EXTRA_NAMES


def values(facts: Facts, now: datetime = T0, late: int = 0) -> dict[str, Any]:
    return condition_values(facts, now, late)


@pytest.mark.parametrize(
    ("source", "facts", "expected"),
    [
        ("order.total >= 200", Facts(order=order(total=Decimal("200.00"))), True),
        ("order.total > 200", Facts(order=order(total=Decimal("200.00"))), False),
        ("cart.value >= 149.99", Facts(cart=cart(value=Decimal("149.99"))), True),
        ("cart.value == 149.99", Facts(cart=cart(value=Decimal("149.99"))), True),
        ("cart.value * 0.5 < 75", Facts(cart=cart(value=Decimal("149.99"))), True),
        ("customer.segment == 'vip'", Facts(customer=customer(segment="vip")), True),
        ("customer.segment == 'vip'", Facts(customer=customer()), False),
        ("shipment is none", Facts(cart=cart()), True),
        ("shipment is none or shipment.carrier == 'dpd'", Facts(cart=cart()), True),
        ("order.placed_at < now", Facts(order=order()), True),
        ("order.items | length == 0", Facts(order=order()), True),
        ("'kawa' in order.discount_codes", Facts(order=order(discount_codes=("kawa",))), True),
        ("customer.email.endswith('.pl')", Facts(customer=customer()), True),
    ],
)
def test_evaluates(source: str, facts: Facts, expected: bool) -> None:
    assert compile_condition(source, names=ALL).holds(values(facts)) is expected


def test_sees_days_late() -> None:
    condition = compile_condition("days_late >= 2", names=ALL)
    assert condition.holds(values(Facts(), late=2))
    assert not condition.holds(values(Facts(), late=1))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("order.total >=", "invalid expression"),
        ("order.total >= 1 1", "invalid expression"),
        ("order.total | no_such_filter", "No filter named"),
        ("order.total is no_such_test", "No test named"),
        ("total >= 200", "unknown name total"),
        ("total", "unknown name total"),
        ("order.totl", "order has no field 'totl'"),
        ("order.totl >= 200", "order has no field 'totl'"),
        ("order['totl'] >= 200", "order has no field 'totl'"),
        ("cart.value > 1", "unknown name cart"),
    ],
)
def test_refuses_at_compile_time(source: str, message: str) -> None:
    names = frozenset({"customer", "order", "shipment"}) | EXTRA_NAMES
    with pytest.raises(ConditionError, match=message):
        compile_condition(source, names=names)


@pytest.mark.parametrize(
    ("source", "facts"),
    [
        ("shipment.carrier == 'inpost'", Facts(cart=cart())),  # absent entity
        ("order.deliver_by < now", Facts(order=order(deliver_by=None))),  # None < datetime
        ("order.total.__class__", Facts(order=order())),  # the sandbox refuses
    ],
)
def test_failures_are_loud(source: str, facts: Facts) -> None:
    with pytest.raises(ConditionFailed):
        compile_condition(source, names=ALL).holds(values(facts))


def test_sandbox_is_immutable() -> None:
    condition = compile_condition("[1].append(2) or true", names=ALL)
    with pytest.raises(ConditionFailed, match="unsafe"):
        condition.holds(values(Facts()))


def test_records_the_names_it_uses() -> None:
    assert compile_condition("order.total > 1 and now", names=ALL).names == {"order", "now"}


def test_the_documented_examples_compile() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
    examples = [
        tomllib.loads(line)["when"]
        for line in docs.read_text(encoding="utf-8").splitlines()
        if line.startswith("when = ")
    ]
    assert len(examples) >= 5
    for source in examples:
        compile_condition(source, names=ALL)
