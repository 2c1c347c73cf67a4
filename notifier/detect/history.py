"""What was known at an earlier moment, rebuilt from the timestamps the snapshots carry.

``rules simulate --from --to`` replays history by evaluating rules on
``facts_as_of(facts, t)`` at each ``t``. Snapshots hold the latest state only, so this is a
reconstruction with known limits:

* a moment set after ``t`` (completed, shipped, delivered, cancelled) is unset, and the
  status falls back to what the remaining moments imply;
* tracking events after ``t`` are dropped; the shipment's status and ``last_event_at``
  follow the latest remaining event;
* the carrier's ETA is taken to have come with the latest event (as ``shipment.late``
  assumes), so it is unknown — None — before that event;
* an order placed after ``t`` did not exist: it becomes None, and so does its shipment;
* what has no history is kept as it is now: customer details, cart contents, a cart's
  ``last_activity_at`` (a cart touched after ``t`` looks not yet abandoned, which is right
  for a replay), payment status, the promised dates.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from notifier.detect.statuses import (
    ORDER_CANCELLED,
    ORDER_SHIPPED,
    OrderStatus,
    ShipmentStatus,
    order_status,
    shipment_status,
)
from notifier.domain import CartSnapshot, Facts, OrderSnapshot, ShipmentSnapshot


def facts_as_of(facts: Facts, t: datetime) -> Facts:
    """``facts`` as they stood at ``t`` (see the module docstring for what cannot be known)."""
    order = _order_as_of(facts.order, t)
    shipment = (
        _shipment_as_of(facts.shipment, t) if order is not None or facts.order is None else None
    )
    return Facts(
        customer=facts.customer,
        order=order,
        shipment=shipment,
        cart=_cart_as_of(facts.cart, t),
        transit=facts.transit,
    )


def _after(moment: datetime | None, t: datetime) -> bool:
    return moment is not None and moment > t


def _until(moment: datetime | None, t: datetime) -> datetime | None:
    return None if _after(moment, t) else moment


def _cart_as_of(cart: CartSnapshot | None, t: datetime) -> CartSnapshot | None:
    if cart is None or not _after(cart.completed_at, t):
        return cart
    return replace(cart, completed_at=None)


def _order_as_of(order: OrderSnapshot | None, t: datetime) -> OrderSnapshot | None:
    if order is None:
        return None
    if _after(order.placed_at, t):
        return None
    moments = (order.shipped_at, order.delivered_at, order.cancelled_at)
    if not any(_after(m, t) for m in moments):
        return order
    rebuilt = replace(
        order,
        shipped_at=_until(order.shipped_at, t),
        delivered_at=_until(order.delivered_at, t),
        cancelled_at=_until(order.cancelled_at, t),
    )
    return replace(rebuilt, status=_order_status(rebuilt, order.status))


def _order_status(order: OrderSnapshot, current: str) -> str:
    if order.cancelled_at is not None:
        return OrderStatus.CANCELLED.value
    if order.delivered_at is not None:
        return OrderStatus.DELIVERED.value
    if order.shipped_at is not None:
        return OrderStatus.SHIPPED.value
    # A later moment was removed: the order stood accepted but unshipped at t.
    if order_status(current) in ORDER_SHIPPED | ORDER_CANCELLED:
        return OrderStatus.CONFIRMED.value
    return current


def _shipment_as_of(shipment: ShipmentSnapshot | None, t: datetime) -> ShipmentSnapshot | None:
    if shipment is None:
        return None
    events = tuple(sorted((e for e in shipment.events if e.at <= t), key=lambda e: e.at))
    dropped = len(events) < len(shipment.events)
    moments = (shipment.shipped_at, shipment.delivered_at, shipment.last_event_at)
    if not dropped and not any(_after(m, t) for m in moments):
        return shipment
    shipped_at = _until(shipment.shipped_at, t)
    delivered_at = _until(shipment.delivered_at, t)
    if events:
        status: str = shipment_status(events[-1].status) or events[-1].status
        last_event_at: datetime | None = events[-1].at
    else:
        last_event_at = _until(shipment.last_event_at, t)
        if delivered_at is not None:
            status = ShipmentStatus.DELIVERED.value
        elif shipped_at is not None:
            status = ShipmentStatus.IN_TRANSIT.value
        else:
            status = ShipmentStatus.PENDING.value
    return replace(
        shipment,
        status=status,
        events=events,
        shipped_at=shipped_at,
        delivered_at=delivered_at,
        last_event_at=last_event_at,
        eta=None if dropped or _after(shipment.last_event_at, t) else shipment.eta,
    )
