"""An escalation: the whole story of a case, gathered once for a person to pick up.

:func:`build_escalation` reads the notification's entity with its customer, order and
shipment (the same snapshots rules and templates see), the timeline of messages, the
offers the customer holds and the number of recent incidents. The result is a frozen
value: :meth:`Escalation.to_payload` is the helpdesk webhook's ``data``, and
:mod:`notifier.escalation.email` renders it for the support inbox.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from notifier.domain import (
    CartSnapshot,
    CustomerSnapshot,
    Facts,
    OrderSnapshot,
    ShipmentSnapshot,
)
from notifier.escalation.incidents import prior_incidents
from notifier.escalation.timeline import TimelineEntry, timeline
from notifier.store.facts import facts_in
from notifier.store.offer_tables import Offer
from notifier.store.snapshots import ENTITY_TABLES
from notifier.store.tables import Notification


@dataclass(frozen=True)
class OfferSummary:
    code: str
    policy: str
    kind: str
    value: Decimal
    currency: str
    status: str
    issued_at: datetime
    expires_at: datetime
    redeemed_order_id: int | None = None


@dataclass(frozen=True)
class Escalation:
    """A case handed to a person, with everything needed to act without asking again."""

    notification_id: int
    rule: str
    step: int
    reason: str
    days_late: int
    created_at: datetime
    customer: CustomerSnapshot | None
    order: OrderSnapshot | None
    shipment: ShipmentSnapshot | None
    cart: CartSnapshot | None
    timeline: tuple[TimelineEntry, ...] = ()
    offers: tuple[OfferSummary, ...] = ()
    prior_incidents: int = 0

    @property
    def subject(self) -> str:
        if self.order:
            what = f"order {self.order.number}"
        else:
            what = f"cart {self.cart.id}" if self.cart else f"notification {self.notification_id}"
        late = f", {self.days_late} day(s) late" if self.days_late else ""
        return f"Escalation: {what} ({self.rule}{late})"

    def to_payload(self) -> dict[str, Any]:
        """JSON-ready: snapshots as plain fields, times ISO-8601, money as strings."""
        return {
            "notification_id": self.notification_id, "rule": self.rule, "step": self.step,
            "reason": self.reason, "days_late": self.days_late,
            "created_at": self.created_at.isoformat(), "prior_incidents": self.prior_incidents,
            "customer": _plain(self.customer), "order": _plain(self.order),
            "shipment": _plain(self.shipment), "cart": _plain(self.cart),
            "timeline": [e.to_payload() for e in self.timeline],
            "offers": [_plain(o) for o in self.offers],
        }


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name != "push_subscriptions"}  # device keys are no business of support
    return str(value)


def build_escalation(session: Session, *, notification: Notification, reason: str,
                     now: datetime, timeline_limit: int = 50,
                     incident_window: timedelta = timedelta(days=30)) -> Escalation:
    """Gather the case of ``notification`` as of ``now``; ``reason`` says why a person must act."""
    row = session.get(ENTITY_TABLES[notification.entity_kind], notification.entity_id)
    facts = facts_in(session, notification.entity_kind, [row])[0] if row is not None else Facts()
    customer, order, cart = facts.customer, facts.order, facts.cart
    customer_id = customer.id if customer else notification.customer_id
    offers: tuple[OfferSummary, ...] = ()
    incidents = 0
    if customer_id is not None:
        stmt = (select(Offer).where(Offer.customer_id == customer_id)
                .order_by(col(Offer.issued_at).desc()).limit(20))
        offers = tuple(
            OfferSummary(o.code, o.policy, o.kind, Decimal(o.value), o.currency, o.status,
                         o.issued_at, o.expires_at, o.redeemed_order_id)
            for o in session.exec(stmt).all())
        incidents = prior_incidents(
            session, customer_id=customer_id, now=now, window=incident_window,
            exclude_entity=(notification.entity_kind, notification.entity_id))
    return Escalation(
        notification_id=notification.id or 0, rule=notification.rule, step=notification.step,
        reason=reason, days_late=notification.days_late, created_at=now,
        customer=customer, order=order, shipment=facts.shipment, cart=cart,
        timeline=timeline(session, customer_id=customer_id,
                          order_id=order.id if order else None,
                          cart_id=cart.id if cart else None, limit=timeline_limit),
        offers=offers, prior_incidents=incidents,
    )
