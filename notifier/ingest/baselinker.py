"""BaseLinker: the mapping of its API's orders, parcels and courier history onto our records.

BaseLinker pushes nothing; :mod:`notifier.connectors.baselinker_poller` pulls these
payloads and this module only maps them. Field names and codes follow BaseLinker's public
API (``getOrders``, ``getOrderPackages``, ``getCourierPackagesStatusHistory``,
``getJournalList``). Its quirks, handled here once:

- dates are unix timestamps, ``0`` meaning "not set";
- numbers and flags often arrive as strings (``"payment_method_cod": "1"``);
- an order has no total: it is the products' ``price_brutto x quantity`` plus
  ``delivery_price``, and ``payment_done`` is the amount paid so far;
- order statuses are the account's own (ids from ``getOrderStatusList``), mapped onto
  ours by the ``[baselinker] status_map`` setting;
- there is no customer id: a marketplace buyer is known by ``order_source`` +
  ``user_login``, anyone else by e-mail or phone;
- contact data is typed by hand in many shops: an unusable phone or e-mail is dropped
  rather than losing the whole order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import IntEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from notifier.ingest.payloads import validate
from notifier.ingest.records import (
    OrderIn,
    OrderStatus,
    ShipmentIn,
    ShipmentStatus,
    destination,
    normalise_phone,
)

SOURCE = "baselinker"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CENT = Decimal("0.01")


class LogType(IntEnum):
    """``getJournalList`` event types (BaseLinker's numbering)."""

    ORDER_CREATED = 1
    ORDER_CONFIRMED = 2  # "DOF download"
    PAYMENT = 3
    REMOVED = 4  # order, invoice or receipt
    ORDERS_MERGED = 5  # object_id: the order merged into this one
    ORDER_SPLIT = 6  # object_id: the new order split off
    INVOICE_ISSUED = 7
    RECEIPT_ISSUED = 8
    PACKAGE_CREATED = 9  # object_id: the parcel
    PACKAGE_DELETED = 10  # object_id: the parcel
    DELIVERY_EDITED = 11
    PRODUCT_ADDED = 12
    PRODUCT_EDITED = 13
    PRODUCT_REMOVED = 14
    BUYER_BLACKLISTED = 15
    ORDER_EDITED = 16
    ORDER_COPIED = 17  # object_id: the new order
    STATUS_CHANGED = 18  # object_id: the new status id
    INVOICE_DELETED = 19
    RECEIPT_DELETED = 20
    INVOICE_EDITED = 21


#: Events that can change what we know of an order; invoices and receipts cannot.
ORDER_EVENTS = frozenset(LogType) - {
    LogType.INVOICE_ISSUED, LogType.RECEIPT_ISSUED, LogType.BUYER_BLACKLISTED,
    LogType.INVOICE_DELETED, LogType.RECEIPT_DELETED, LogType.INVOICE_EDITED,
}
#: Events whose ``object_id`` is another order to read.
OTHER_ORDER_EVENTS = frozenset({LogType.ORDERS_MERGED, LogType.ORDER_SPLIT, LogType.ORDER_COPIED})
#: Events after which the order's parcels are read again.
PACKAGE_EVENTS = frozenset({LogType.PACKAGE_CREATED, LogType.PACKAGE_DELETED,
                            LogType.ORDER_SPLIT, LogType.ORDER_COPIED})

# BaseLinker's unified courier tracking codes (getCourierPackagesStatusHistory /
# getOrderPackages ``tracking_status``) onto our vocabulary, with BaseLinker's label.
# 0 "unknown" says nothing about the parcel and is skipped. "Waiting at point" is
# out_for_delivery, as Shopify's ready_for_pickup; a cancelled label is pending again.
TRACKING_STATUS: dict[int, tuple[ShipmentStatus, str]] = {
    1: ("label_created", "Courier label created"),
    2: ("in_transit", "Shipped"),
    3: ("failed_delivery", "Not delivered"),
    4: ("out_for_delivery", "Out for delivery"),
    5: ("delivered", "Delivered"),
    6: ("returned_to_sender", "Return"),
    7: ("attempted_delivery", "Aviso"),
    8: ("out_for_delivery", "Waiting at point"),
    9: ("lost", "Lost"),
    10: ("pending", "Canceled"),
    11: ("in_transit", "On the way"),
    12: ("exception", "Exception"),
    13: ("in_transit", "Transferred abroad"),
}

#: Parcels going back to the shop are not the customer's delivery.
RETURN_PACKAGE_TYPES = frozenset({1, 3})


def when(timestamp: int | None) -> datetime | None:
    """A BaseLinker unix timestamp as an aware UTC datetime; 0 or None mean unset."""
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


def timestamp(moment: datetime) -> int:
    return int(moment.timestamp())


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class JournalLog(_Model):
    log_id: int = Field(validation_alias=AliasChoices("log_id", "id"))
    log_type: int
    order_id: int
    object_id: int = 0
    date: int = 0


class Product(_Model):
    name: str = ""
    sku: str = ""
    product_id: str = ""
    price_brutto: Decimal = Decimal(0)
    quantity: int = 1

    @field_validator("product_id", "sku", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        return "" if value is None else str(value)


class Order(_Model):
    order_id: int
    shop_order_id: int | str | None = None
    external_order_id: str = ""
    order_source: str = ""
    order_status_id: int = 0
    confirmed: bool = True
    date_add: int = 0
    date_confirmed: int = 0
    date_in_status: int = 0
    user_login: str = ""
    email: str = ""
    phone: str = ""
    currency: str = ""
    payment_method: str = ""
    payment_method_cod: bool = False
    payment_done: Decimal = Decimal(0)
    delivery_method: str = ""
    delivery_price: Decimal = Decimal(0)
    delivery_fullname: str = ""
    invoice_fullname: str = ""
    delivery_country_code: str = ""
    delivery_postcode: str = ""
    products: list[Product] = Field(default_factory=list)

    @field_validator("external_order_id", "user_login", "email", "phone", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        return "" if value is None else str(value)

    @property
    def subtotal(self) -> Decimal:
        return sum((p.price_brutto * p.quantity for p in self.products), Decimal(0))

    @property
    def total(self) -> Decimal:
        return (self.subtotal + self.delivery_price).quantize(_CENT)

    @property
    def changed_at(self) -> datetime | None:
        """The newest moment the order carries: BaseLinker sends no modification time."""
        return when(max(self.date_add, self.date_confirmed, self.date_in_status))


class Package(_Model):
    package_id: int
    courier_package_nr: str = ""
    courier_code: str = ""
    courier_other_name: str = ""
    tracking_status: int = 0
    tracking_status_date: int = 0
    tracking_url: str = ""
    package_type: int = 0
    is_return: bool = False

    @property
    def is_customer_delivery(self) -> bool:
        return not self.is_return and self.package_type not in RETURN_PACKAGE_TYPES


class HistoryEntry(_Model):
    tracking_status_date: int
    tracking_status: int = 0
    courier_status_code: str = ""


class _Journal(_Model):
    logs: list[JournalLog] = Field(default_factory=list)


class _Packages(_Model):
    packages: list[Package] = Field(default_factory=list)


class _Histories(_Model):
    packages_history: dict[str, list[HistoryEntry]] = Field(default_factory=dict)

    @field_validator("packages_history", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        # An empty PHP array arrives as [] instead of {}; a lone entry as an object.
        if isinstance(value, list) and not value:
            return {}
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, dict) else v for k, v in value.items()}
        return value


def parse_journal(body: Any) -> list[JournalLog]:
    """The events of a ``getJournalList`` answer, oldest first."""
    return sorted(validate(_Journal, body, prefix="getJournalList").logs, key=lambda e: e.log_id)


def parse_order(data: Any) -> Order:
    return validate(Order, data, prefix="order")


def parse_packages(body: Any) -> list[Package]:
    return validate(_Packages, body, prefix="getOrderPackages").packages


def parse_histories(body: Any) -> dict[str, list[HistoryEntry]]:
    """Status history per parcel id, oldest entry first."""
    found = validate(_Histories, body, prefix="getCourierPackagesStatusHistory")
    return {pid: sorted(entries, key=lambda e: e.tracking_status_date)
            for pid, entries in found.packages_history.items()}


class BaseLinkerAdapter:
    """Maps BaseLinker payloads onto canonical records.

    ``status_map`` keys are status ids (``"1051"``) or names (``"Wysłane"``, matched
    case-insensitively against ``status_names``, the account's ``getOrderStatusList``).
    """

    source = SOURCE

    def __init__(self, *, status_map: Mapping[str, str], default_currency: str = "PLN",
                 region: str = "PL") -> None:
        self.status_by_id = {k.strip(): v for k, v in status_map.items() if k.strip().isdigit()}
        self.status_by_name = {k.strip().casefold(): v for k, v in status_map.items()
                               if not k.strip().isdigit()}
        self.default_currency = default_currency
        self.context = {"region": region}

    @property
    def needs_status_names(self) -> bool:
        return bool(self.status_by_name)

    def order_status(self, order: Order, status_name: str | None = None) -> OrderStatus:
        """Ours for the order's BaseLinker status; unmapped: confirmed (pending if unconfirmed)."""
        mapped = self.status_by_id.get(str(order.order_status_id))
        if mapped is None and status_name:
            mapped = self.status_by_name.get(status_name.strip().casefold())
        if mapped is None or (mapped == "confirmed" and not order.confirmed):
            mapped = "confirmed" if order.confirmed else "pending"
        return mapped  # type: ignore[return-value]

    def order(self, order: Order, *, status_name: str | None = None) -> OrderIn:
        status = self.order_status(order, status_name)
        in_status = when(order.date_in_status)
        data: dict[str, Any] = {
            "external_id": order.order_id,
            "number": _number(order),
            "customer": self._customer(order),
            "status": status,
            "payment_status": _payment_status(order),
            "payment_method": "cod" if order.payment_method_cod
            else (order.payment_method or None),
            "currency": order.currency or self.default_currency,
            "total": order.total,
            "subtotal": order.subtotal.quantize(_CENT),
            "shipping_total": order.delivery_price.quantize(_CENT),
            "items": [_item(p) for p in order.products],
            "shipping_method": order.delivery_method or None,
            **destination(order.delivery_country_code, order.delivery_postcode),
            "placed_at": when(order.date_add) or when(order.date_confirmed),
            # Always sent, so an order taken back out of a cancelled status is live again.
            "cancelled_at": in_status if status == "cancelled" else None,
            "updated_at": order.changed_at,
        }
        # Only when known: the parcels' roll-up sets them otherwise and must not be undone.
        if status in {"shipped", "delivered"} and in_status is not None:
            data["shipped_at"] = in_status
        if status == "delivered" and in_status is not None:
            data["delivered_at"] = in_status
        return validate(OrderIn, data, context=self.context, prefix="order")

    def _customer(self, order: Order) -> dict[str, Any] | None:
        email = order.email.strip().lower()
        email = email if _EMAIL.match(email) else ""
        phone = _phone(order.phone, order.delivery_country_code or self.context["region"])
        if order.user_login and order.order_source:
            key = f"{order.order_source}:{order.user_login}"
        elif email or phone:
            key = f"email:{email}" if email else f"phone:{phone}"
        else:
            return None
        first, _, last = (order.delivery_fullname or order.invoice_fullname).strip().partition(" ")
        return {"external_id": key[:128], "email": email or None, "phone": phone,
                "first_name": first[:128] or None, "last_name": last.strip()[:128] or None}

    def shipment(self, package: Package, history: list[HistoryEntry], *,
                 order_id: int) -> ShipmentIn | None:
        """A customer's parcel with its courier history; None for a return to the shop."""
        if not package.is_customer_delivery:
            return None
        data: dict[str, Any] = {
            "external_id": package.package_id,
            "order_external_id": order_id,
            "carrier": package.courier_other_name or package.courier_code or None,
            "tracking_number": package.courier_package_nr or None,
            "tracking_url": package.tracking_url or None,
            **_history_fields(history),
        }
        if not history and package.tracking_status in TRACKING_STATUS:
            data["status"] = TRACKING_STATUS[package.tracking_status][0]
            data["updated_at"] = when(package.tracking_status_date)
        return validate(ShipmentIn, data, prefix=f"package {package.package_id}")

    def tracking(self, package_id: str, history: list[HistoryEntry]) -> ShipmentIn:
        """A parcel's courier history alone (a refresh; the parcel is already stored).

        No ``updated_at``: a refresh must never be judged stale and skipped, or the same
        parcels would be asked for again and again; events merge by id, latest wins.
        """
        data = {"external_id": package_id, **_history_fields(history)}
        data.pop("updated_at", None)
        return validate(ShipmentIn, data, prefix=f"package {package_id}")

    def cancelled(self, order_id: str, *, currency: str, total: Decimal,
                  at: datetime) -> OrderIn:
        """An order BaseLinker no longer has (deleted, or merged into another)."""
        return OrderIn(external_id=order_id, currency=currency, total=total,
                       status="cancelled", cancelled_at=at)


def _history_fields(history: list[HistoryEntry]) -> dict[str, Any]:
    events = []
    for entry in history:
        known = TRACKING_STATUS.get(entry.tracking_status)
        at = when(entry.tracking_status_date)
        if known is None or at is None:
            continue
        status, label = known
        code = entry.courier_status_code.strip()
        events.append({
            "id": f"{entry.tracking_status_date}:{entry.tracking_status}:{code}"[:128],
            "at": at, "status": status,
            "message": f"{label} ({code})" if code else label,
        })
    if not events:
        return {}
    fields: dict[str, Any] = {"events": events, "updated_at": events[-1]["at"]}
    handed_over = [e["at"] for e in events if e["status"] not in {"pending", "label_created"}]
    if handed_over:
        fields["shipped_at"] = min(handed_over)
    delivered = [e["at"] for e in events if e["status"] == "delivered"]
    if delivered:
        fields["delivered_at"] = min(delivered)
    return fields


def _number(order: Order) -> str:
    shop_number = str(order.shop_order_id or "").strip()
    if shop_number and shop_number != "0":
        return shop_number
    return order.external_order_id.strip() or str(order.order_id)


def _payment_status(order: Order) -> str:
    total = order.total
    if order.payment_done > 0 and order.payment_done >= total:
        return "paid"
    if order.payment_done > 0:
        return "partially_paid"
    return "pending"


def _item(product: Product) -> dict[str, Any]:
    return {"name": product.name.strip() or product.sku or product.product_id or "?",
            "quantity": max(product.quantity, 0),
            "price": max(product.price_brutto, Decimal(0)).quantize(_CENT),
            "sku": product.sku}


def _phone(raw: str, region: str) -> str | None:
    if not raw.strip():
        return None
    try:
        return normalise_phone(raw, region.upper() if len(region) == 2 else "PL")
    except ValueError:
        return None
