"""WooCommerce webhooks: signature, topics, and the mapping onto our records.

WooCommerce signs the raw body (base64 HMAC-SHA256, ``X-WC-Webhook-Signature``), sends
the topic in ``X-WC-Webhook-Topic`` and a delivery id in ``X-WC-Webhook-Delivery-ID``.
It never retries and disables a webhook after repeated failures, so we answer its
unsigned creation ping (``webhook_id=N``) with 200. Payloads follow the WooCommerce
REST API v3 order and customer resources; ``*_gmt`` dates are UTC without an offset.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from notifier.ingest.payloads import validate
from notifier.ingest.records import AnyRecord, CustomerIn, OrderIn, destination
from notifier.ingest.signatures import verify_hmac_base64

SOURCE = "woocommerce"

ORDER_STATUS = {
    "pending": "pending",
    "on-hold": "pending",
    "failed": "pending",
    "processing": "confirmed",
    "completed": "shipped",
    "cancelled": "cancelled",
    "refunded": "cancelled",
    "trash": "cancelled",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Address(_Model):
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    country: str = ""
    postcode: str = ""


class LineItem(_Model):
    name: str = Field(min_length=1)
    quantity: int
    price: Decimal = Decimal(0)
    sku: str | None = None


class ShippingLine(_Model):
    method_title: str = ""
    method_id: str = ""


class CouponLine(_Model):
    code: str


class Order(_Model):
    id: int
    number: str | None = None
    status: str
    currency: str
    total: Decimal
    shipping_total: Decimal | None = None
    customer_id: int = 0
    billing: Address = Field(default_factory=Address)
    shipping: Address = Field(default_factory=Address)
    payment_method: str = ""
    date_created_gmt: datetime
    date_modified_gmt: datetime | None = None
    date_paid_gmt: datetime | None = None
    date_completed_gmt: datetime | None = None
    line_items: list[LineItem] = Field(default_factory=list)
    shipping_lines: list[ShippingLine] = Field(default_factory=list)
    coupon_lines: list[CouponLine] = Field(default_factory=list)


class Customer(_Model):
    id: int
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    billing: Address = Field(default_factory=Address)
    date_modified_gmt: datetime | None = None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class WooCommerceAdapter:
    """Maps WooCommerce webhook topics onto canonical records."""

    source = SOURCE
    topics = frozenset({"order.created", "order.updated", "customer.created", "customer.updated"})

    def __init__(self, secrets: list[str], *, region: str = "PL") -> None:
        self.secrets = [s for s in secrets if s]
        self.context = {"region": region}

    @staticmethod
    def is_ping(body: bytes) -> bool:
        return body.startswith(b"webhook_id=") and len(body) < 64

    def verify(self, headers: dict[str, str], body: bytes) -> None:
        verify_hmac_base64(body, headers.get("x-wc-webhook-signature"), self.secrets,
                           header="X-WC-Webhook-Signature")

    def topic(self, headers: dict[str, str]) -> str:
        return headers.get("x-wc-webhook-topic", "")

    def dedupe_key(self, headers: dict[str, str], topic: str) -> str | None:
        delivery = headers.get("x-wc-webhook-delivery-id")
        if not delivery:
            return None
        return f"woocommerce:{headers.get('x-wc-webhook-id', '')}:{delivery}"

    def parse(self, topic: str, payload: Any, *, now: datetime) -> list[AnyRecord]:
        if topic.startswith("order."):
            return [self._order(validate(Order, payload))]
        if topic.startswith("customer."):
            return [self._customer(validate(Customer, payload))]
        return []

    def _order(self, order: Order) -> OrderIn:
        customer: dict[str, Any] | None = None
        contact = order.billing
        if contact.email or contact.phone:
            customer = {
                "external_id": order.customer_id or f"guest:{contact.email or contact.phone}",
                "email": contact.email or None,
                "phone": contact.phone or None,
                "first_name": contact.first_name or None,
                "last_name": contact.last_name or None,
            }
        status = ORDER_STATUS.get(order.status, "pending")
        paid = order.date_paid_gmt is not None or order.status in {"processing", "completed"}
        return validate(OrderIn, {
            "external_id": order.id,
            "number": order.number or str(order.id),
            "customer": customer,
            "status": status,
            "payment_status": "refunded" if order.status == "refunded"
            else ("paid" if paid else "pending"),
            "payment_method": order.payment_method or None,
            "currency": order.currency,
            "total": order.total,
            "shipping_total": order.shipping_total,
            # Product names come HTML-escaped ("Ship Your Idea &ndash; Color: Black" in
            # WooCommerce's own example); templates escape again, so store the text.
            "items": [{"name": html.unescape(i.name), "quantity": i.quantity, "price": i.price,
                       "sku": i.sku or ""} for i in order.line_items],
            "discount_codes": [c.code for c in order.coupon_lines],
            "shipping_method": order.shipping_lines[0].method_title
            if order.shipping_lines else None,
            **destination(order.shipping.country or order.billing.country,
                          order.shipping.postcode or order.billing.postcode),
            "placed_at": _utc(order.date_created_gmt),
            "shipped_at": _utc(order.date_completed_gmt) if order.status == "completed" else None,
            "cancelled_at": _utc(order.date_modified_gmt) if status == "cancelled" else None,
            "updated_at": _utc(order.date_modified_gmt or order.date_created_gmt),
        }, context=self.context)

    def _customer(self, customer: Customer) -> CustomerIn:
        return validate(CustomerIn, {
            "external_id": customer.id,
            "email": customer.email or customer.billing.email or None,
            "phone": customer.billing.phone or None,
            "first_name": customer.first_name or None,
            "last_name": customer.last_name or None,
            "updated_at": _utc(customer.date_modified_gmt),
        }, context=self.context)
