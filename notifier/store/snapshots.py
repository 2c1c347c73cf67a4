"""Rows to frozen snapshots.

Detection and composition never see ORM rows: a rule's ``when`` and a template read the
same snapshot fields. A row here is anything with the columns as attributes: an ORM row or
a Core row. The related snapshots of a batch are loaded by :mod:`notifier.store.facts`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

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
