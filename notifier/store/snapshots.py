"""Rows to frozen snapshots, and the related snapshots of a batch loaded in bulk.

Detection and composition never see ORM rows: a rule's ``when`` and a template read the
same snapshot fields. Loading is batched (one query per related table per batch) so a
tick costs a handful of queries whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from notifier.domain import (
    CartSnapshot,
    CustomerSnapshot,
    LineItem,
    OrderSnapshot,
    PushSubscription,
    ShipmentSnapshot,
    TrackingEvent,
    frozen,
)
from notifier.store.tables import Cart, Customer, Order, Shipment

ENTITY_TABLES: dict[str, type[Order] | type[Shipment] | type[Cart]] = {
    "order": Order,
    "shipment": Shipment,
    "cart": Cart,
}


def _items(raw: list[dict[str, Any]]) -> tuple[LineItem, ...]:
    return tuple(
        LineItem(name=i.get("name", ""), quantity=int(i.get("quantity", 1)),
                 price=Decimal(str(i.get("price", 0))), sku=i.get("sku", "") or "",
                 url=i.get("url", "") or "", image_url=i.get("image_url", "") or "")
        for i in raw
    )


def customer_snapshot(row: Customer) -> CustomerSnapshot:
    return frozen(CustomerSnapshot, {
        "id": row.id or 0, "email": row.email, "phone": row.phone,
        "first_name": row.first_name, "last_name": row.last_name,
        "salutation": row.salutation, "gender": row.gender, "locale": row.locale,
        "timezone": row.timezone, "segment": row.segment,
        "preferred_channel": row.preferred_channel,
        "push_subscriptions": tuple(
            PushSubscription(**{k: s.get(k, "") or "" for k in
                                ("endpoint", "p256dh", "auth", "fcm_token")})
            for s in row.push_subscriptions
        ) if row.push_subscriptions else (),
    })


def order_snapshot(row: Order) -> OrderSnapshot:
    return frozen(OrderSnapshot, {
        "id": row.id or 0, "external_id": row.external_id,
        "number": row.number or row.external_id, "status": row.status,
        "payment_status": row.payment_status, "currency": row.currency,
        "total": Decimal(row.total), "items": _items(row.items) if row.items else (),
        "discount_codes": tuple(row.discount_codes), "shipping_method": row.shipping_method,
        "payment_method": row.payment_method, "is_test": row.is_test,
        "placed_at": row.placed_at, "ship_by": row.ship_by, "deliver_by": row.deliver_by,
        "shipped_at": row.shipped_at, "delivered_at": row.delivered_at,
        "cancelled_at": row.cancelled_at, "ship_country": row.ship_country,
        "ship_postcode": row.ship_postcode,
    })


def _event(raw: dict[str, Any]) -> TrackingEvent:
    return TrackingEvent(at=datetime.fromisoformat(raw["at"]), status=raw["status"],
                         message=raw.get("message", "") or "",
                         location=raw.get("location", "") or "")


def shipment_snapshot(row: Shipment) -> ShipmentSnapshot:
    return frozen(ShipmentSnapshot, {
        "id": row.id or 0, "status": row.status, "carrier": row.carrier,
        "tracking_number": row.tracking_number, "tracking_url": row.tracking_url,
        "eta": row.eta, "shipped_at": row.shipped_at, "delivered_at": row.delivered_at,
        "last_event_at": row.last_event_at,
        "events": tuple(_event(e) for e in row.events) if row.events else (),
    })


def cart_snapshot(row: Cart) -> CartSnapshot:
    return frozen(CartSnapshot, {
        "id": row.id or 0, "currency": row.currency, "value": Decimal(row.value),
        "items": _items(row.items) if row.items else (), "recovery_url": row.recovery_url,
        "email": row.email, "phone": row.phone, "last_activity_at": row.last_activity_at,
        "completed_at": row.completed_at, "deleted_at": row.deleted_at,
    })


def _by_id(session: Session, table: Any, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {r.id: r for r in session.exec(select(table).where(col(table.id).in_(ids))).all()}


def related(session: Session, kind: str, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """For each row of ``kind``, the snapshots a rule sees: customer, order, shipment, cart.

    A shipment sees its order and the order's customer; an order sees its latest
    shipment; a cart sees its customer.
    """
    orders: dict[int, Order] = {}
    latest_shipment: dict[int, Shipment] = {}
    if kind == "shipment":
        orders = _by_id(session, Order, {r.order_id for r in rows if r.order_id})
    elif kind == "order":
        orders = {r.id: r for r in rows}
        stmt = select(Shipment).where(col(Shipment.order_id).in_(list(orders)))
        for shipment in session.exec(stmt).all():
            held = latest_shipment.get(shipment.order_id or 0)
            if held is None or (shipment.id or 0) > (held.id or 0):
                latest_shipment[shipment.order_id or 0] = shipment
    customer_ids = {o.customer_id for o in orders.values() if o.customer_id}
    if kind == "cart":
        customer_ids = {r.customer_id for r in rows if r.customer_id}
    customers = _by_id(session, Customer, customer_ids)

    out = []
    for row in rows:
        snap: dict[str, Any] = {"customer": None, "order": None, "shipment": None, "cart": None}
        if kind == "cart":
            snap["cart"] = cart_snapshot(row)
            customer = customers.get(row.customer_id)
        else:
            order = orders.get(row.order_id if kind == "shipment" else row.id)
            snap["order"] = order_snapshot(order) if order else None
            shipment = row if kind == "shipment" else latest_shipment.get(row.id)
            snap["shipment"] = shipment_snapshot(shipment) if shipment else None
            customer = customers.get(order.customer_id) if order and order.customer_id else None
        snap["customer"] = customer_snapshot(customer) if customer else None
        out.append(snap)
    return out
