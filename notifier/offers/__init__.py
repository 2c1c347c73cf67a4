"""Compensation offers: policies, codes and pools, reservation, redemption, shop sync.

    offers = OfferService(settings)                       # once per process
    r = offers.reserve(session, policy=..., notification_id=..., ..., now=now)
    r.offer            # an OfferView for the template, or None with r.reason (r.escalate)
    offers.void(session, notification_id, "not sent: ...", now=now)
    redeem(session, order_id=..., codes=order.discount_codes, order_total=..., currency=...,
           now=now)                                       # from ingest

Modules: :mod:`.policies` (defaults, config, tiers), :mod:`.costs` (estimated cost),
:mod:`.guards` (limits and budgets under concurrency), :mod:`.codes`, :mod:`.pool`,
:mod:`.service`, :mod:`.redemption`, :mod:`.sync` (the shop's webhooks and Shopify
discounts, queued in the one outbox), :mod:`.alerts`, :mod:`.lateness`, :mod:`.commands`.
"""

from notifier.offers.alerts import OfferMetrics
from notifier.offers.lateness import days_past
from notifier.offers.policies import OfferPolicy, choose_tier, load_policies
from notifier.offers.redemption import redeem
from notifier.offers.service import OfferService, Reservation, view_of

__all__ = [
    "OfferMetrics",
    "OfferPolicy",
    "OfferService",
    "Reservation",
    "choose_tier",
    "days_past",
    "load_policies",
    "redeem",
    "view_of",
]
