"""Render contexts from a real customer's stored data, for ``templates preview --customer``.

Marketers preview a message as a given customer would read it: their name and locale,
their most recent order with its latest parcel, their most recent cart. Nothing is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from notifier.compose import Links, RenderContext, ShopView
from notifier.config import Settings
from notifier.domain import Purpose
from notifier.privacy import search
from notifier.store.facts import facts_in
from notifier.store.snapshots import (
    ENTITY_TABLES,
    cart_snapshot,
    customer_snapshot,
    order_snapshot,
    shipment_snapshot,
)
from notifier.store.tables import Cart, Customer, Order, Shipment
from notifier.track.tokens import sign


def customer_context(session: Session, settings: Settings, customer_id: int, *,
                     purpose: Purpose, now: datetime | None = None) -> RenderContext | None:
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    order = session.exec(select(Order).where(Order.customer_id == customer_id)
                         .order_by(col(Order.id).desc())).first()
    shipment = None
    if order is not None:
        shipment = session.exec(select(Shipment).where(Shipment.order_id == order.id)
                                .order_by(col(Shipment.id).desc())).first()
    cart = session.exec(select(Cart).where(Cart.customer_id == customer_id)
                        .order_by(col(Cart.id).desc())).first()
    base = settings.server.public_url.rstrip("/")
    token = sign({"c": customer_id, "p": purpose.value},
                 settings.server.secret_key.get_secret_value())
    return RenderContext(
        customer=customer_snapshot(customer),
        order=order_snapshot(order) if order else None,
        shipment=shipment_snapshot(shipment) if shipment else None,
        cart=cart_snapshot(cart) if cart else None,
        offer=None, shop=ShopView.from_settings(settings.shop),
        links=Links(unsubscribe=f"{base}/u/{token}", preferences=f"{base}/u/{token}",
                    tracking=shipment.tracking_url if shipment else None),
        now=now or datetime.now(UTC), purpose=purpose,
    )


@dataclass(frozen=True)
class Stored:
    """A stored record a preview can be rendered for: ``kind`` customer, order, cart or
    shipment, its id and what the picker shows."""

    kind: str
    id: int
    label: str

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.id}"


def find_stored(session: Session, query: str, *, region: str = "PL",
                limit: int = 10) -> list[Stored]:
    """Customers (by e-mail, phone, name), orders (by number), carts (by their shop id)
    and shipments (by tracking number) matching ``query``, for the editor's sample picker."""
    q = query.strip()
    if not q:
        return []
    out = [Stored("customer", c.id or 0, " ".join(filter(None, (
        c.first_name, c.last_name, f"<{c.email}>" if c.email else c.phone))))
        for c in search(session, q, region=region, limit=limit)]
    for order in session.exec(select(Order).where(
            or_(Order.number == q, Order.external_id == q)).limit(limit)).all():
        out.append(Stored("order", order.id or 0, f"#{order.number or order.external_id}"))
    for cart in session.exec(select(Cart).where(
            or_(Cart.external_id == q, col(Cart.email).ilike(f"{q.lower()}%"))
            ).order_by(col(Cart.id).desc()).limit(limit)).all():
        out.append(Stored("cart", cart.id or 0, f"{cart.external_id} {cart.email or ''}".strip()))
    for shipment in session.exec(select(Shipment).where(
            Shipment.tracking_number == q).limit(limit)).all():
        out.append(Stored("shipment", shipment.id or 0, f"{shipment.carrier or ''} "
                          f"{shipment.tracking_number}".strip()))
    return out[:limit * 2]


def stored_context(session: Session, settings: Settings, ref: str, *, purpose: Purpose,
                   now: datetime | None = None) -> RenderContext | None:
    """The context of ``customer:12``, ``order:7``, ``cart:3`` or ``shipment:5`` as the
    engine would build it for a message about it (no offer, signed links); None when the
    record does not exist."""
    kind, _, raw_id = ref.partition(":")
    if not raw_id.isdigit():
        return None
    if kind == "customer":
        return customer_context(session, settings, int(raw_id), purpose=purpose, now=now)
    table = ENTITY_TABLES.get(kind)
    row = session.get(table, int(raw_id)) if table is not None else None
    if row is None:
        return None
    facts = facts_in(session, kind, [row])[0]
    customer = facts.customer
    base = settings.server.public_url.rstrip("/")
    token = sign({"c": customer.id if customer else 0, "p": purpose.value},
                 settings.server.secret_key.get_secret_value())
    shipment = facts.shipment
    return RenderContext(
        customer=customer, order=facts.order, shipment=shipment, cart=facts.cart,
        offer=None, shop=ShopView.from_settings(settings.shop),
        links=Links(unsubscribe=f"{base}/u/{token}", preferences=f"{base}/u/{token}",
                    tracking=shipment.tracking_url if shipment else None),
        now=now or datetime.now(UTC), purpose=purpose)
