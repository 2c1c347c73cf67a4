"""Telling the shop about offers: the ``offer.issued`` / ``offer.voided`` webhooks and the
Shopify discount, queued in the caller's transaction (so they exist iff the offer does).

Pool codes already exist in the shop, so only generated codes are created in Shopify.
Codes reach the shop asynchronously, a few seconds after the message is sent at worst;
schedule :meth:`~notifier.offers.outbound.OutboundSender.deliver_due` often (or right
after a dispatch pass) so the code works by the time the customer types it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from notifier.config import Settings
from notifier.offers import outbound
from notifier.offers.shopify_admin import discount_payload
from notifier.store.offer_tables import Offer


def offer_data(offer: Offer) -> dict[str, Any]:
    """The ``data`` of an offer webhook."""
    return {
        "offer_id": offer.id, "code": offer.code, "policy": offer.policy, "kind": offer.kind,
        "value": str(offer.value), "currency": offer.currency, "source": offer.source,
        "customer_id": offer.customer_id, "order_id": offer.order_id,
        "notification_id": offer.notification_id, "rule": offer.rule, "step": offer.step,
        "issued_at": offer.issued_at.isoformat(), "expires_at": offer.expires_at.isoformat(),
        "estimated_cost": None if offer.estimated_cost is None else str(offer.estimated_cost),
        "status": offer.status,
    }


def _wants(settings: Settings, event: str) -> bool:
    return bool(settings.offers.webhook.url) and event in settings.offers.webhook_events


def issued(session: Session, settings: Settings, offer: Offer, *, now: datetime) -> None:
    if _wants(settings, "offer.issued"):
        outbound.enqueue(session, target=outbound.OFFERS, event="offer.issued",
                         data=offer_data(offer), now=now,
                         dedupe_key=f"offer.issued:{offer.id}")
    if settings.offers.shopify.enabled and offer.source == "generated":
        outbound.enqueue(session, target=outbound.SHOPIFY, event="discount.create",
                         data=discount_payload(offer), now=now,
                         dedupe_key=f"discount.create:{offer.id}")


def voided(session: Session, settings: Settings, offer: Offer, *, now: datetime) -> None:
    """Withdraw what was not sent yet; tell the shop about a code it already knows."""
    outbound.cancel(session, dedupe_key=f"discount.create:{offer.id}")
    if outbound.cancel(session, dedupe_key=f"offer.issued:{offer.id}"):
        return
    if _wants(settings, "offer.voided"):
        outbound.enqueue(session, target=outbound.OFFERS, event="offer.voided",
                         data=offer_data(offer), now=now,
                         dedupe_key=f"offer.voided:{offer.id}")
