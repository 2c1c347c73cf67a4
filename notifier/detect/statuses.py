"""The normalised status vocabulary: what shipments, tracking events and orders can say.

Every carrier and shop platform has its own codes; ingest mappers translate them into these
values once, so triggers and operators' ``when`` conditions compare against one vocabulary.
:func:`shipment_status` also accepts the common spellings (``"returned"``, ``"in-transit"``)
so a mapper can hand over what it has and get ``None`` back for what it cannot place.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache


class ShipmentStatus(StrEnum):
    """Where a parcel is, for a shipment as a whole and for each tracking event."""

    PENDING = "pending"
    LABEL_CREATED = "label_created"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    ATTEMPTED_DELIVERY = "attempted_delivery"
    FAILED_DELIVERY = "failed_delivery"
    RETURNED_TO_SENDER = "returned_to_sender"
    DAMAGED = "damaged"
    LOST = "lost"
    EXCEPTION = "exception"  # the carrier reports a problem without saying which


class OrderStatus(StrEnum):
    """An order's life cycle as the shop reports it."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    PROCESSING = "processing"
    ON_HOLD = "on_hold"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


#: The parcel is moving with the carrier: a long silence here means it is stuck.
MOVING = frozenset({ShipmentStatus.IN_TRANSIT, ShipmentStatus.OUT_FOR_DELIVERY})

#: The carrier has the parcel (or had it): the order counts as shipped.
HANDED_OVER = frozenset(ShipmentStatus) - {ShipmentStatus.PENDING, ShipmentStatus.LABEL_CREATED}

#: A problem the customer should hear about; ``shipment.exception`` matches these.
EXCEPTIONS = frozenset(
    {
        ShipmentStatus.ATTEMPTED_DELIVERY,
        ShipmentStatus.FAILED_DELIVERY,
        ShipmentStatus.RETURNED_TO_SENDER,
        ShipmentStatus.DAMAGED,
        ShipmentStatus.LOST,
        ShipmentStatus.EXCEPTION,
    }
)

#: Orders the shop has accepted and must now ship.
ORDER_CONFIRMED = frozenset({OrderStatus.CONFIRMED, OrderStatus.PROCESSING})
ORDER_SHIPPED = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED})
ORDER_CANCELLED = frozenset({OrderStatus.CANCELLED, OrderStatus.REFUNDED})

#: ``payment_status`` values after which the shop owes the customer a parcel. An
#: authorised card payment counts: many shops capture only when they ship.
PAID = frozenset({"paid", "authorized", "authorised"})

#: ``payment_method`` spellings meaning the customer pays the courier (pobranie).
CASH_ON_DELIVERY = frozenset(
    {"cod", "cash_on_delivery", "pobranie", "za_pobraniem", "platnosc_przy_odbiorze"}
)

_SHIPMENT_ALIASES = {
    "created": ShipmentStatus.LABEL_CREATED,
    "label": ShipmentStatus.LABEL_CREATED,
    "shipped": ShipmentStatus.IN_TRANSIT,
    "transit": ShipmentStatus.IN_TRANSIT,
    "returned": ShipmentStatus.RETURNED_TO_SENDER,
    "return_to_sender": ShipmentStatus.RETURNED_TO_SENDER,
    "delivery_failed": ShipmentStatus.FAILED_DELIVERY,
    "delivery_attempted": ShipmentStatus.ATTEMPTED_DELIVERY,
    "failure": ShipmentStatus.EXCEPTION,
}


def _key(raw: str) -> str:
    return raw.strip().lower().replace("-", "_").replace(" ", "_")


@lru_cache(maxsize=512)  # a handful of spellings, read for every due row
def shipment_status(raw: str | None) -> ShipmentStatus | None:
    """The normalised status for ``raw`` (``"Out-for-delivery"`` -> OUT_FOR_DELIVERY), or None."""
    if not raw:
        return None
    key = _key(raw)
    try:
        return ShipmentStatus(key)
    except ValueError:
        return _SHIPMENT_ALIASES.get(key)


@lru_cache(maxsize=512)  # a handful of spellings, read for every due row
def order_status(raw: str | None) -> OrderStatus | None:
    """The normalised order status for ``raw`` (``"canceled"`` -> CANCELLED), or None."""
    if not raw:
        return None
    key = _key(raw).replace("canceled", "cancelled")
    try:
        return OrderStatus(key)
    except ValueError:
        return None


@lru_cache(maxsize=512)  # a handful of spellings, read for every due row
def is_cash_on_delivery(payment_method: str | None) -> bool:
    return bool(payment_method) and _key(payment_method or "") in CASH_ON_DELIVERY
