"""Everything we already told (or tried to tell) a customer about a case, oldest first.

A person taking over must not ask the customer what we already said. The timeline is the
``notifications`` rows of the customer and of the order (with its shipments) — sent or
not, with the status and the reason — and the offer code each one carried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, or_
from sqlmodel import Session, col, select

from notifier.store.offer_tables import Offer
from notifier.store.tables import Notification, Shipment


@dataclass(frozen=True)
class TimelineEntry:
    """One notification as support reads it; ``at`` is when it was sent, else detected."""

    at: datetime
    notification_id: int
    rule: str
    step: int
    template: str
    channel: str | None
    status: str
    reason: str | None = None
    offer_code: str | None = None
    # What came of it (the track stage): receipts, the first counted click, the order it
    # was credited with, the rating given through it.
    delivered_at: datetime | None = None
    bounced_at: datetime | None = None
    complained_at: datetime | None = None
    clicked_at: datetime | None = None
    converted_at: datetime | None = None
    conversion_order: int | None = None
    rating: int | None = None

    def to_payload(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {"at": self.at.isoformat(), "notification_id": self.notification_id,
                "rule": self.rule, "step": self.step, "template": self.template,
                "channel": self.channel, "status": self.status, "reason": self.reason,
                "offer_code": self.offer_code, "delivered_at": iso(self.delivered_at),
                "bounced_at": iso(self.bounced_at), "complained_at": iso(self.complained_at),
                "clicked_at": iso(self.clicked_at), "converted_at": iso(self.converted_at),
                "conversion_order": self.conversion_order, "rating": self.rating}


def timeline(session: Session, *, customer_id: int | None, order_id: int | None,
             cart_id: int | None = None, limit: int = 50) -> tuple[TimelineEntry, ...]:
    """The latest ``limit`` notifications about the customer or the order, oldest first."""
    about = [false()]
    if customer_id is not None:
        about.append(col(Notification.customer_id) == customer_id)
    if order_id is not None:
        shipments = select(Shipment.id).where(Shipment.order_id == order_id)
        about.append(and_(col(Notification.entity_kind) == "order",
                          col(Notification.entity_id) == order_id))
        about.append(and_(col(Notification.entity_kind) == "shipment",
                          col(Notification.entity_id).in_(shipments)))
    if cart_id is not None:
        about.append(and_(col(Notification.entity_kind) == "cart",
                          col(Notification.entity_id) == cart_id))
    stmt = (
        select(Notification, Offer.code)
        .join(Offer, col(Offer.notification_id) == col(Notification.id), isouter=True)
        .where(or_(*about))
        .order_by(col(Notification.detected_at).desc(), col(Notification.id).desc())
        .limit(limit)
    )
    entries = [
        TimelineEntry(at=n.sent_at or n.detected_at, notification_id=n.id or 0, rule=n.rule,
                      step=n.step, template=n.template, channel=n.channel, status=n.status,
                      reason=n.reason, offer_code=code, delivered_at=n.delivered_at,
                      bounced_at=n.bounced_at, complained_at=n.complained_at,
                      clicked_at=n.clicked_at, converted_at=n.converted_at,
                      conversion_order=n.conversion_order, rating=n.rating)
        for n, code in session.exec(stmt).all()
    ]
    return tuple(sorted(entries, key=lambda e: (e.at, e.notification_id)))
