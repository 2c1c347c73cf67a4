"""Shopify webhooks: signature, topics, and the mapping onto our records.

Shopify signs the raw body with HMAC-SHA256 (base64, header ``X-Shopify-Hmac-Sha256``),
retries failed deliveries for hours with the same ``X-Shopify-Webhook-Id``, and names
the underlying event in ``X-Shopify-Event-Id``: we dedupe on the event (or webhook) id.
Payload fields follow Shopify's REST Admin API resources (orders, fulfillments,
fulfillment events, checkouts, customers).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from notifier.ingest.payloads import validate
from notifier.ingest.records import (
    AnyRecord,
    CartDeleted,
    CartIn,
    CustomerIn,
    OrderIn,
    ShipmentIn,
    destination,
)
from notifier.ingest.signatures import verify_hmac_base64

SOURCE = "shopify"

# Shopify's shipment and fulfillment-event statuses onto our vocabulary.
SHIPMENT_STATUS = {
    "label_printed": "label_created",
    "label_purchased": "label_created",
    "confirmed": "label_created",
    "attempted_delivery": "attempted_delivery",
    "ready_for_pickup": "out_for_delivery",
    "picked_up": "in_transit",
    "carrier_picked_up": "in_transit",
    "in_transit": "in_transit",
    "delayed": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "delivered": "delivered",
    "failure": "failed_delivery",
}


# Our record fields -> Shopify's, so a refused payload names the field of Shopify's own
# document (``line_items.0.quantity``, not ``items.0.quantity``); see payloads.translate.
_CUSTOMER_NAMES = {"external_id": "id", "consents": "email_marketing_consent"}
_NESTED_CUSTOMER = {f"customer.{k}": f"customer.{v}" for k, v in _CUSTOMER_NAMES.items()}
_ITEM_NAMES = {"items": "line_items", "items.*.name": "line_items.*.title"}
ORDER_NAMES = {
    **_ITEM_NAMES, **_NESTED_CUSTOMER, "external_id": "id", "number": "name",
    "total": "total_price", "subtotal": "subtotal_price", "shipping_method": "shipping_lines",
    "locale": "customer_locale", "cart_external_id": "checkout_token",
    "placed_at": "created_at", "payment_status": "financial_status",
    "payment_method": "payment_gateway_names", "is_test": "test",
}
CHECKOUT_NAMES = {
    **_ITEM_NAMES, **_NESTED_CUSTOMER, "external_id": "token", "value": "total_price",
    "recovery_url": "abandoned_checkout_url", "locale": "customer_locale",
    "last_activity_at": "updated_at", "currency": "presentment_currency",
}
FULFILLMENT_NAMES = {
    "external_id": "id", "order_external_id": "order_id", "carrier": "tracking_company",
    "shipped_at": "created_at", "status": "shipment_status",
}
EVENT_NAMES = {
    "external_id": "fulfillment_id", "order_external_id": "order_id", "events.*.id": "id",
    "events.*.at": "happened_at", "events.*.status": "status", "events.*.message": "message",
    "events.*.location": "city", "events.*.eta": "estimated_delivery_at", "events": "body",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Consent(_Model):
    state: str | None = None  # Shopify's own sample for customers_marketing_consent sends null
    consent_updated_at: datetime | None = None


class Customer(_Model):
    id: int
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    locale: str | None = None
    updated_at: datetime | None = None
    email_marketing_consent: Consent | None = None
    sms_marketing_consent: Consent | None = None


class LineItem(_Model):
    title: str = Field(min_length=1)
    quantity: int
    price: Decimal = Decimal(0)
    sku: str | None = None


class DiscountCode(_Model):
    code: str


class ShippingLine(_Model):
    title: str | None = None
    code: str | None = None


class ShippingAddress(_Model):
    country_code: str | None = None
    zip: str | None = None


class Order(_Model):
    id: int
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    created_at: datetime
    updated_at: datetime | None = None
    cancelled_at: datetime | None = None
    closed_at: datetime | None = None
    financial_status: str | None = None
    fulfillment_status: str | None = None
    confirmed: bool = True
    test: bool = False
    currency: str
    total_price: Decimal
    subtotal_price: Decimal | None = None
    line_items: list[LineItem] = Field(default_factory=list)
    discount_codes: list[DiscountCode] = Field(default_factory=list)
    shipping_lines: list[ShippingLine] = Field(default_factory=list)
    shipping_address: ShippingAddress | None = None
    payment_gateway_names: list[str] = Field(default_factory=list)
    customer_locale: str | None = None
    checkout_token: str | None = None
    customer: Customer | None = None


class Fulfillment(_Model):
    id: int
    order_id: int
    status: str | None = None
    shipment_status: str | None = None
    tracking_company: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class FulfillmentEvent(_Model):
    id: int
    fulfillment_id: int
    order_id: int
    status: str
    message: str | None = None
    happened_at: datetime | None = None
    created_at: datetime | None = None
    estimated_delivery_at: datetime | None = None
    city: str | None = None


class Checkout(_Model):
    # Since API 2026-04 checkouts/create and checkouts/update carry no ``id``: carts are
    # keyed by ``token`` (which orders name as ``checkout_token``) whether or not it has one.
    id: int | None = None
    token: str
    cart_token: str | None = None
    email: str | None = None
    phone: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    abandoned_checkout_url: str | None = None
    currency: str | None = None
    presentment_currency: str | None = None
    total_price: Decimal = Decimal(0)
    line_items: list[LineItem] = Field(default_factory=list)
    customer_locale: str | None = None
    customer: Customer | None = None


class CheckoutDeleted(_Model):
    id: int | None = None
    token: str | None = None
    cart_token: str | None = None


class ConsentUpdate(_Model):
    customer_id: int | None = None
    id: int | None = None
    email_marketing_consent: Consent | None = None
    sms_marketing_consent: Consent | None = None


class ShopifyAdapter:
    """Maps Shopify webhook topics onto canonical records."""

    source = SOURCE
    topics = frozenset(
        {
            "orders/create", "orders/updated", "orders/cancelled", "orders/fulfilled",
            "fulfillments/create", "fulfillments/update", "fulfillment_events/create",
            "checkouts/create", "checkouts/update", "checkouts/delete",
            "customers/create", "customers/update",
            "customers_email_marketing_consent/update", "customers_marketing_consent/update",
        }
    )

    def __init__(self, secrets: list[str], *, region: str = "PL") -> None:
        self.secrets = [s for s in secrets if s]
        self.context = {"region": region}

    def verify(self, headers: dict[str, str], body: bytes) -> None:
        verify_hmac_base64(body, headers.get("x-shopify-hmac-sha256"), self.secrets,
                           header="X-Shopify-Hmac-Sha256")

    def topic(self, headers: dict[str, str]) -> str:
        return headers.get("x-shopify-topic", "")

    def dedupe_key(self, headers: dict[str, str], topic: str) -> str | None:
        event_id = headers.get("x-shopify-event-id")
        if event_id:
            return f"shopify:event:{topic}:{event_id}"
        webhook_id = headers.get("x-shopify-webhook-id")
        return f"shopify:webhook:{webhook_id}" if webhook_id else None

    def parse(self, topic: str, payload: Any, *, now: datetime) -> list[AnyRecord]:
        if topic.startswith("orders/"):
            return self._order(validate(Order, payload))
        if topic.startswith("fulfillments/"):
            return [self._fulfillment(validate(Fulfillment, payload))]
        if topic == "fulfillment_events/create":
            return [self._fulfillment_event(validate(FulfillmentEvent, payload))]
        if topic == "checkouts/delete":
            gone = validate(CheckoutDeleted, payload)
            # The delete names the checkout by id and cart_token only, never by the token
            # we key carts by: the cart_token (stored as the cart's alias) finds it.
            key = gone.token or (str(gone.id) if gone.id is not None else "")
            return [CartDeleted(external_id=key, alias=gone.cart_token, at=now)]
        if topic.startswith("checkouts/"):
            return self._checkout(validate(Checkout, payload))
        if topic.startswith("customers/"):
            return [self._customer(validate(Customer, payload))]
        if topic.endswith("marketing_consent/update"):
            return [self._consent(validate(ConsentUpdate, payload))]
        return []

    # -- mappings ----------------------------------------------------------------------

    def _record(self, model: type, data: dict[str, Any],
                names: dict[str, str] | None = None) -> Any:
        return validate(model, data, context=self.context, names=names or _CUSTOMER_NAMES)

    def _customer_data(self, customer: Customer) -> dict[str, Any]:
        data: dict[str, Any] = {
            "external_id": customer.id,
            "email": customer.email,
            "phone": customer.phone,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "updated_at": customer.updated_at,
            "consents": _consents(customer.email_marketing_consent,
                                  customer.sms_marketing_consent),
        }
        if customer.locale:
            data["locale"] = customer.locale
        return data

    def _customer(self, customer: Customer) -> CustomerIn:
        return self._record(CustomerIn, self._customer_data(customer))

    def _consent(self, update: ConsentUpdate) -> CustomerIn:
        customer_id = update.customer_id or update.id
        return self._record(CustomerIn, {
            "external_id": customer_id,
            "consents": _consents(update.email_marketing_consent,
                                  update.sms_marketing_consent),
        })

    def _order(self, order: Order) -> list[AnyRecord]:
        customer = None
        if order.customer is not None:
            data = self._customer_data(order.customer)
            data.pop("updated_at")  # the order's snapshot time is not the customer's
            if order.customer_locale and "locale" not in data:
                data["locale"] = order.customer_locale
            customer = data
        status = "confirmed" if order.confirmed else "pending"
        if order.fulfillment_status == "fulfilled":
            status = "shipped"
        if order.cancelled_at is not None:
            status = "cancelled"
        gateways = " ".join(order.payment_gateway_names).lower()
        record = self._record(OrderIn, {
            "external_id": order.id,
            "number": order.name,
            "customer": customer,
            "status": status,
            "payment_status": _payment_status(order.financial_status),
            "payment_method": "cod" if ("cash on delivery" in gateways or "cod" in gateways)
            else (order.payment_gateway_names[0] if order.payment_gateway_names else None),
            "is_test": order.test,
            "currency": order.currency,
            "total": order.total_price,
            "subtotal": order.subtotal_price,
            "items": [_item(i) for i in order.line_items],
            "discount_codes": [d.code for d in order.discount_codes],
            "shipping_method": order.shipping_lines[0].title if order.shipping_lines else None,
            **destination(order.shipping_address.country_code if order.shipping_address else None,
                          order.shipping_address.zip if order.shipping_address else None),
            "locale": order.customer_locale,
            "cart_external_id": order.checkout_token,
            "placed_at": order.created_at,
            "cancelled_at": order.cancelled_at,
            "updated_at": order.updated_at or order.created_at,
        }, ORDER_NAMES)
        return [record]

    def _fulfillment(self, fulfillment: Fulfillment) -> ShipmentIn:
        data: dict[str, Any] = {
            "external_id": fulfillment.id,
            "order_external_id": fulfillment.order_id,
            "carrier": fulfillment.tracking_company,
            "tracking_number": fulfillment.tracking_number,
            "tracking_url": fulfillment.tracking_url,
            "shipped_at": fulfillment.created_at,
            "updated_at": fulfillment.updated_at,
        }
        if fulfillment.status == "success" and not fulfillment.shipment_status:
            data["status"] = "in_transit"
        elif fulfillment.shipment_status:
            data["status"] = SHIPMENT_STATUS.get(fulfillment.shipment_status, "in_transit")
        if fulfillment.status in {"cancelled", "error", "failure"}:
            data["status"] = "exception"
        return self._record(ShipmentIn, data, FULFILLMENT_NAMES)

    def _fulfillment_event(self, event: FulfillmentEvent) -> ShipmentIn:
        at = event.happened_at or event.created_at
        return self._record(ShipmentIn, {
            "external_id": event.fulfillment_id,
            "order_external_id": event.order_id,
            "events": [{
                "id": event.id,
                "at": at,
                "status": SHIPMENT_STATUS.get(event.status, "in_transit"),
                "message": event.message or "",
                "location": event.city or "",
                "eta": event.estimated_delivery_at,
            }],
        }, EVENT_NAMES)

    def _checkout(self, checkout: Checkout) -> list[AnyRecord]:
        customer = self._customer_data(checkout.customer) if checkout.customer else None
        if customer:
            customer.pop("updated_at")
        return [self._record(CartIn, {
            "external_id": checkout.token,
            "customer": customer,
            "email": checkout.email or None,
            "phone": checkout.phone or None,
            "currency": checkout.presentment_currency or checkout.currency or "",
            "value": checkout.total_price,
            "items": [_item(i) for i in checkout.line_items],
            "recovery_url": checkout.abandoned_checkout_url,
            "locale": checkout.customer_locale,
            "last_activity_at": checkout.updated_at or checkout.created_at,
            "completed_at": checkout.completed_at,
            "updated_at": checkout.updated_at,
            "alias": checkout.cart_token,
        }, CHECKOUT_NAMES)]


def _item(item: LineItem) -> dict[str, Any]:
    return {"name": item.title, "quantity": item.quantity, "price": item.price,
            "sku": item.sku or ""}


def _payment_status(financial_status: str | None) -> str:
    return {
        "paid": "paid",
        "partially_paid": "partially_paid",
        "refunded": "refunded",
        "partially_refunded": "paid",
        "voided": "voided",
        "authorized": "pending",
    }.get(financial_status or "", "pending")


def _consents(email: Consent | None, sms: Consent | None) -> list[dict[str, Any]]:
    """Shopify's consent objects as words. ``consent_updated_at`` is the only evidence of
    when the customer acted; when it is null the word carries no time (the customer's
    ``updated_at`` changes with any edit by the shop, so it is never taken for one) and
    cannot reverse an opt-out."""
    out = []
    for channel, consent in (("email", email), ("sms", sms)):
        if consent is None or consent.state is None:  # e.g. the SMS sample's null state
            continue
        out.append({"channel": channel, "purpose": "marketing",
                    "granted": consent.state == "subscribed",
                    "at": consent.consent_updated_at, "source": SOURCE})
    return out

