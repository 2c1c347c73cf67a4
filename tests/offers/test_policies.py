"""Policies: embedded defaults, configured overrides, tier boundaries, cost estimates."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from notifier.compose.context import OfferKind
from notifier.config import OfferPolicySettings, OffersSettings
from notifier.offers.costs import Converter, estimate_cost
from notifier.offers.policies import choose_tier, load_policies

DEFAULTS = load_policies(OffersSettings())
PLN = Converter("PLN", {"EUR": Decimal("4.30")})


@pytest.mark.parametrize(("days_late", "percent"), [
    (0, None), (1, 10), (2, 10), (3, 15), (4, 15), (5, 20), (6, 20), (30, 20),
])
def test_delay_compensation_tiers_at_their_boundaries(days_late: int,
                                                       percent: int | None) -> None:
    tier = choose_tier(DEFAULTS["delay-compensation"], days_late=days_late,
                       order_total=Decimal("99.00"), segment=None)
    assert (tier.percent if tier else None) == (Decimal(percent) if percent else None)


@pytest.mark.parametrize(("total", "kind", "percent"), [
    (None, OfferKind.FREE_SHIPPING, 0),
    ("149.99", OfferKind.FREE_SHIPPING, 0),
    ("150.00", OfferKind.PERCENT, 5),
    ("1000", OfferKind.PERCENT, 5),
])
def test_cart_recovery_by_order_value(total: str | None, kind: OfferKind, percent: int) -> None:
    tier = choose_tier(DEFAULTS["cart-recovery"], days_late=0,
                       order_total=Decimal(total) if total else None, segment=None)
    assert tier is not None
    assert (tier.kind, tier.percent) == (kind, Decimal(percent))


VIP_FIRST = OfferPolicySettings.model_validate({"tiers": [
    {"segments": ["VIP"], "min_days_late": 1, "kind": "amount",
     "amount": {"PLN": "50.00", "eur": "12.00"}},
    {"min_days_late": 1, "max_days_late": 3, "min_order_total": 500, "percent": 15},
    {"min_days_late": 1, "max_days_late": 3, "max_order_total": "499.99", "percent": 10},
]})


@pytest.mark.parametrize(("days", "total", "segment", "currency", "expected"), [
    (1, "100", "vip", "PLN", ("amount", Decimal("50.00"))),   # first match wins: segment
    (1, "100", "vip", "EUR", ("amount", Decimal("12.00"))),   # per-currency amount
    (1, "100", "vip", "CZK", ("amount", None)),               # no amount for CZK
    (2, "500", None, "PLN", ("percent", Decimal(15))),        # inclusive lower bound
    (2, "499.99", None, "PLN", ("percent", Decimal(10))),     # inclusive upper bound
    (3, "120", "regular", "EUR", ("percent", Decimal(15))),   # 120 EUR = 516 PLN
    (4, "100", None, "PLN", None),                            # beyond every tier
    (0, "100", "vip", "PLN", None),
])
def test_configured_tiers_precedence(days: int, total: str, segment: str | None,
                                     currency: str, expected: tuple | None) -> None:
    policy = load_policies(OffersSettings(policies={"custom": VIP_FIRST}))["custom"]
    tier = choose_tier(policy, days_late=days,
                       order_total=PLN.to_shop(Decimal(total), currency), segment=segment)
    got = None if tier is None else (tier.kind.value, tier.value_in(currency))
    assert got == expected


def test_config_replaces_a_default_by_name_and_keeps_the_others() -> None:
    custom = OfferPolicySettings.model_validate(
        {"tiers": [{"percent": 7}], "limit": "2/14d", "limit_group": "delays",
         "monthly_budget": 1000, "on_exhausted": "escalate"})
    policies = load_policies(OffersSettings(policies={"delay-compensation": custom}))
    delay = policies["delay-compensation"]
    assert [t.percent for t in delay.tiers] == [Decimal(7)]
    assert (delay.limit.count, delay.limit.window.days) == (2, 14)  # type: ignore[union-attr]
    assert (delay.limit_group, delay.monthly_budget, delay.on_exhausted) == (
        "delays", Decimal(1000), "escalate")
    assert "cart-recovery" in policies


@pytest.mark.parametrize(("raw", "problem"), [
    ({"tiers": []}, "at least 1"),
    ({"tiers": [{"kind": "percent"}]}, "needs percent"),
    ({"tiers": [{"kind": "amount"}]}, "needs amount"),
    ({"tiers": [{"percent": 120}]}, "less than or equal to 100"),
    ({"tiers": [{"percent": 5}], "limit": "once"}, "not a cap"),
    ({"tiers": [{"percent": 5}], "valid_for": "a month"}, "bad duration"),
    ({"tiers": [{"percent": 5}], "code_prefix": "sorry!"}, "pattern"),
    ({"tiers": [{"percent": 5}, {"percent": 10}], "codes": "pool"}, "same discount"),
])
def test_invalid_policies_are_refused_naming_the_problem(raw: dict, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        OfferPolicySettings.model_validate(raw)


@pytest.mark.parametrize(("tier", "value", "total", "currency", "cost"), [
    ({"percent": 10}, "10", "249.99", "PLN", "25.00"),
    ({"percent": 15}, "15", "100", "EUR", "64.50"),          # 15 EUR at 4.30
    ({"percent": 10}, "10", None, "PLN", "0.00"),             # unknown total costs nothing
    ({"kind": "amount", "amount": {"PLN": 20}}, "20", "80", "PLN", "20.00"),
    ({"kind": "amount", "amount": {"EUR": 5}}, "5", "80", "EUR", "21.50"),
    ({"kind": "amount", "amount": {"CZK": 100}}, "100", "80", "CZK", None),  # no rate
    ({"kind": "free_shipping"}, "0", "80", "PLN", "15.00"),
])
def test_estimated_cost_in_shop_currency(tier: dict, value: str, total: str | None,
                                         currency: str, cost: str | None) -> None:
    policy = load_policies(OffersSettings(policies={
        "p": OfferPolicySettings.model_validate({"tiers": [tier]})}))["p"]
    got = estimate_cost(policy, policy.tiers[0], value=Decimal(value),
                        order_total=Decimal(total) if total else None, currency=currency,
                        converter=PLN)
    assert got == (Decimal(cost) if cost else None)
