"""Render contexts from a real customer's stored data, for ``templates preview --customer``.

Marketers preview a message as a given customer would read it: their name and locale,
their most recent order with its latest parcel, their most recent cart. Nothing is sent.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, col, select

from notifier.compose import Links, RenderContext, ShopView
from notifier.config import Settings
from notifier.domain import Purpose
from notifier.store.snapshots import (
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
