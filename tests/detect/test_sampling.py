"""Rollout and holdout groups: deterministic, independent per rule, roughly proportional."""

from collections import Counter

import pytest

from notifier.detect.rules import Rule
from notifier.detect.sampling import assign, bucket, customer_key
from notifier.domain import Facts
from tests.detect.helpers import cart, customer, rule

KEYS = [f"customer:{i}" for i in range(20_000)]


def sampled(rollout: float, holdout: float, name: str = "cart.abandoned") -> Rule:
    return rule(name, extra=f"rollout = {rollout}\nholdout = {holdout}")


def test_bucket_is_stable_across_processes_and_versions() -> None:
    # Pinned: changing the hash would silently move customers between groups.
    assert bucket("shipment-late", "rollout", "customer:1") == 66.4048
    assert all(0 <= bucket("r", k) < 100 for k in KEYS[:2000])


def test_same_customer_same_group() -> None:
    the_rule = sampled(50, 20)
    assert [assign(the_rule, k) for k in KEYS[:500]] == [assign(the_rule, k) for k in KEYS[:500]]


@pytest.mark.parametrize(
    ("rollout", "holdout", "expected"),
    [
        (100, 0, {"treated": 1.0}),
        (0, 0, {"excluded": 1.0}),
        (100, 100, {"holdout": 1.0}),
        (30, 10, {"excluded": 0.70, "holdout": 0.03, "treated": 0.27}),
        (50, 50, {"excluded": 0.50, "holdout": 0.25, "treated": 0.25}),
        (0.5, 0, {"excluded": 0.995, "treated": 0.005}),
    ],
)
def test_roughly_proportional(rollout: float, holdout: float, expected: dict[str, float]) -> None:
    the_rule = sampled(rollout, holdout)
    counts = Counter(assign(the_rule, k) for k in KEYS)
    assert set(counts) == set(expected)
    for group, share in expected.items():
        assert counts[group] / len(KEYS) == pytest.approx(share, abs=0.015)


def test_widening_the_rollout_only_adds_customers() -> None:
    narrow, wide = sampled(20, 10), sampled(60, 10)
    for key in KEYS[:5000]:
        if assign(narrow, key) != "excluded":
            assert assign(wide, key) == assign(narrow, key)


def test_rules_sample_independently() -> None:
    first, second = sampled(50, 0, "cart.abandoned"), sampled(50, 0, "shipment.late")
    same = sum(assign(first, k) == assign(second, k) for k in KEYS[:5000])
    assert 0.45 < same / 5000 < 0.55


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (Facts(customer=customer(id=7), cart=cart()), "customer:7"),
        (Facts(cart=cart(email=" Ala@Example.PL ")), "email:ala@example.pl"),
        (Facts(cart=cart(email=None, phone="+48500100200")), "phone:+48500100200"),
        (Facts(cart=cart(email=None)), None),
        (Facts(), None),
    ],
)
def test_customer_key(facts: Facts, expected: str | None) -> None:
    assert customer_key(facts) == expected
