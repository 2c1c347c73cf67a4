"""What an offer is expected to cost the shop, in the shop currency.

The true cost is only known when (if) the code is used, but a monthly budget must be
charged when the code is issued. So we estimate, and say how:

* percent off: ``percent x order total`` (the cart value for a cart), i.e. the discount
  the customer would get on an order like the one that went wrong; an unknown total costs 0;
* a fixed amount: the amount;
* free shipping: the policy's ``free_shipping_cost``.

Foreign-currency amounts are converted with ``[offers].exchange_rates`` (value of one
unit in the shop currency); without a rate the cost is unknown (None).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from notifier.domain import OfferKind
from notifier.offers.policies import OfferPolicy, Tier

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Converter:
    """Converts amounts into the shop currency."""

    shop_currency: str
    rates: dict[str, Decimal]

    def to_shop(self, amount: Decimal, currency: str) -> Decimal | None:
        currency = currency.upper()
        if currency == self.shop_currency.upper():
            return amount
        rate = self.rates.get(currency)
        return None if rate is None else amount * rate


def estimate_cost(policy: OfferPolicy, tier: Tier, *, value: Decimal,
                  order_total: Decimal | None, currency: str,
                  converter: Converter) -> Decimal | None:
    """The estimated cost of one offer in the shop currency, rounded to the cent."""
    if tier.kind is OfferKind.FREE_SHIPPING:
        cost: Decimal | None = policy.free_shipping_cost
    elif tier.kind is OfferKind.AMOUNT:
        cost = converter.to_shop(value, currency)
    elif order_total is None:
        cost = Decimal(0)
    else:
        cost = converter.to_shop(order_total * value / 100, currency)
    return None if cost is None else cost.quantize(CENT, ROUND_HALF_UP)
