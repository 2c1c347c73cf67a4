"""Telling the shop about offers: the ``offer.issued`` / ``offer.voided`` webhooks and the
Shopify discount, queued in the caller's transaction (so they exist iff the offer does).

Pool codes already exist in the shop, so only generated codes are created in Shopify.
Both are rows of the one outbox, due at once: the dispatcher sends them in the same pass
as the message carrying the code, so the code works by the time the customer types it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from notifier.config import Settings
from notifier.store import outbox
from notifier.store.offer_tables import Offer

OFFERS = "offers"  # the [offers.webhook] receiver


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


def discount_payload(offer: Offer) -> dict[str, Any]:
    """What a ``discount.create`` call carries: enough to build the Shopify mutation."""
    return {"code": offer.code, "kind": offer.kind, "value": str(offer.value),
            "currency": offer.currency, "policy": offer.policy,
            "starts_at": offer.issued_at.isoformat(), "ends_at": offer.expires_at.isoformat()}


def _wants(settings: Settings, event: str) -> bool:
    return bool(settings.offers.webhook.url) and event in settings.offers.webhook_events


def announces_issued(settings: Settings) -> bool:
    """Whether :func:`issued` queues anything (a webhook, a Shopify discount)."""
    return _wants(settings, "offer.issued") or settings.offers.shopify.enabled


def issued(session: Session, settings: Settings, offer: Offer, *, now: datetime) -> None:
    origin = ("offer", offer.id or 0)
    if _wants(settings, "offer.issued"):
        outbox.enqueue_webhook(session, target=OFFERS, event="offer.issued",
                               data=offer_data(offer), now=now, origin=origin,
                               key=f"offer.issued:{offer.id}")
    if settings.offers.shopify.enabled and offer.source == "generated":
        outbox.enqueue_webhook(session, target="shopify", event="discount.create",
                               data=discount_payload(offer), now=now, origin=origin,
                               key=f"discount.create:{offer.id}", kind="shopify")


def voided(session: Session, settings: Settings, offer: Offer, *, now: datetime) -> None:
    """Withdraw what was not sent yet; tell the shop about a code it already knows."""
    outbox.cancel(session, key=f"discount.create:{offer.id}", reason="offer voided")
    if outbox.cancel(session, key=f"offer.issued:{offer.id}", reason="offer voided"):
        return
    if _wants(settings, "offer.voided"):
        outbox.enqueue_webhook(session, target=OFFERS, event="offer.voided",
                               data=offer_data(offer), now=now, origin=("offer", offer.id or 0),
                               key=f"offer.voided:{offer.id}")
