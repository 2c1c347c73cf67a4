"""Offer policies: the embedded defaults, the configured ones, and choosing a tier.

A policy is looked up by the name a rule step gives (``offer = "delay-compensation"``).
``[offers.policies.<name>]`` in config.toml replaces an embedded policy of that name
whole, or adds a new one. Tier precedence is simply file order: the first tier whose
every condition holds wins, so write the specific tiers (a VIP segment, a large order)
before the general ones. Bounds are inclusive.

    policy = load_policies(settings.offers)["delay-compensation"]
    tier = choose_tier(policy, days_late=3, order_total=Decimal("249.00"), segment=None)
    tier.percent   # Decimal("15")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Literal

from notifier.config import OfferPolicySettings, OffersSettings, OfferTierSettings
from notifier.config_types import Cap
from notifier.domain import OfferKind

OnExhausted = Literal["send_without", "escalate"]
CodeSource = Literal["generate", "pool"]


def _tiers(*tiers: dict[str, object]) -> list[OfferTierSettings]:
    return [OfferTierSettings.model_validate(t) for t in tiers]


def default_policies() -> dict[str, OfferPolicySettings]:
    """The policies the engine runs with when config.toml names none (the shipped rules
    reference both)."""
    return {
        "delay-compensation": OfferPolicySettings(
            description="Late or unshipped order: 10% (1-2 days), 15% (3-4), 20% (5+)",
            tiers=_tiers(
                {"min_days_late": 1, "max_days_late": 2, "percent": 10},
                {"min_days_late": 3, "max_days_late": 4, "percent": 15},
                {"min_days_late": 5, "percent": 20},
            ),
            valid_for="30d", limit="1/30d", code_prefix="SORRY",
        ),
        "cart-recovery": OfferPolicySettings(
            description="Cart left behind: 5% from 150 in the shop currency, else free shipping",
            tiers=_tiers(
                {"min_order_total": 150, "percent": 5},
                {"kind": "free_shipping"},
            ),
            valid_for="7d", limit="1/30d", code_prefix="WRACAM",
        ),
    }


@dataclass(frozen=True)
class Tier:
    """One tier: when it applies and what it gives (see :class:`OfferTierSettings`)."""

    kind: OfferKind
    percent: Decimal = Decimal(0)
    amounts: dict[str, Decimal] = field(default_factory=dict)
    min_days_late: int | None = None
    max_days_late: int | None = None
    min_order_total: Decimal | None = None
    max_order_total: Decimal | None = None
    segments: frozenset[str] = frozenset()

    def matches(self, *, days_late: int, order_total: Decimal | None,
                segment: str | None) -> bool:
        """Whether every condition holds; ``order_total`` is in the shop currency and a
        tier bounding it never matches an unknown total."""
        if self.min_days_late is not None and days_late < self.min_days_late:
            return False
        if self.max_days_late is not None and days_late > self.max_days_late:
            return False
        if self.min_order_total is not None or self.max_order_total is not None:
            if order_total is None:
                return False
            if self.min_order_total is not None and order_total < self.min_order_total:
                return False
            if self.max_order_total is not None and order_total > self.max_order_total:
                return False
        return not self.segments or (segment or "").strip().lower() in self.segments

    def value_in(self, currency: str) -> Decimal | None:
        """What the customer gets in ``currency``: the percent, the amount (None when the
        policy names no amount for that currency) or 0 for free shipping."""
        if self.kind is OfferKind.PERCENT:
            return self.percent
        if self.kind is OfferKind.AMOUNT:
            return self.amounts.get(currency.upper())
        return Decimal(0)

    @classmethod
    def from_settings(cls, s: OfferTierSettings) -> Tier:
        return cls(
            kind=OfferKind(s.kind), percent=s.percent or Decimal(0),
            amounts={k.upper(): v for k, v in s.amount.items()},
            min_days_late=s.min_days_late, max_days_late=s.max_days_late,
            min_order_total=s.min_order_total, max_order_total=s.max_order_total,
            segments=frozenset(x.strip().lower() for x in s.segments),
        )


@dataclass(frozen=True)
class OfferPolicy:
    """A validated policy, as the reservation service uses it."""

    name: str
    tiers: tuple[Tier, ...]
    valid_for: timedelta
    limit: Cap | None
    limit_group: str
    monthly_budget: Decimal | None
    free_shipping_cost: Decimal
    on_exhausted: OnExhausted
    codes: CodeSource
    code_prefix: str
    pool_low_threshold: int
    description: str = ""

    @classmethod
    def from_settings(cls, name: str, s: OfferPolicySettings) -> OfferPolicy:
        return cls(
            name=name, tiers=tuple(Tier.from_settings(t) for t in s.tiers),
            valid_for=s.valid_for, limit=s.limit,
            limit_group=s.limit_group or name, monthly_budget=s.monthly_budget,
            free_shipping_cost=s.free_shipping_cost, on_exhausted=s.on_exhausted,
            codes=s.codes, code_prefix=s.code_prefix,
            pool_low_threshold=s.pool_low_threshold, description=s.description,
        )


def load_policies(offers: OffersSettings) -> dict[str, OfferPolicy]:
    """The embedded defaults overlaid by the configured policies (by name, whole)."""
    merged = {**default_policies(), **offers.policies}
    return {name: OfferPolicy.from_settings(name, s) for name, s in merged.items()}


def choose_tier(policy: OfferPolicy, *, days_late: int, order_total: Decimal | None,
                segment: str | None) -> Tier | None:
    """The first tier of ``policy`` that matches, or None."""
    return next((t for t in policy.tiers
                 if t.matches(days_late=days_late, order_total=order_total, segment=segment)),
                None)
