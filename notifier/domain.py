"""Frozen values that cross stage boundaries.

Stages (ingest -> store -> detect -> compose -> deliver -> track) never pass ORM rows or
dict bags to each other; they pass these. Everything here is immutable and free of I/O,
so any stage can be tested on its own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from notifier.transit.model import TransitModel

_T = TypeVar("_T")
_FIELDS: dict[type, int] = {}


def frozen(kind: type[_T], values: dict[str, Any]) -> _T:
    """``kind(**values)`` for a frozen dataclass ``kind``, given a value for every field.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (4 µs
    for an order snapshot's 20 fields); filling the new instance's ``__dict__`` is one C
    call. For values built in bulk (a detection tick builds several per due row); the
    instance is the same — equal, hashable, frozen — as one from ``kind(**values)``.
    """
    count = _FIELDS.get(kind)
    if count is None:
        count = _FIELDS[kind] = len(dataclasses.fields(kind))  # type: ignore[arg-type]
    if len(values) != count:
        raise TypeError(f"{kind.__name__} needs all its fields, got {sorted(values)}")
    instance = object.__new__(kind)
    instance.__dict__.update(values)
    return instance


class Channel(StrEnum):
    """A way to reach a customer. The value is the channel's short ``kind``."""

    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"


class Purpose(StrEnum):
    """Why we write: it decides what consent a message needs.

    Transactional messages (about an order the customer placed) need no opt-in;
    marketing messages (an abandoned cart, a satisfaction survey) do.
    """

    TRANSACTIONAL = "transactional"
    MARKETING = "marketing"


@dataclass(frozen=True)
class EmailMessage:
    """A fully rendered email, ready for any email transport."""

    to: str
    subject: str
    text: str
    html: str
    preheader: str = ""
    from_addr: str = ""
    reply_to: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    #: The envelope sender (SMTP ``MAIL FROM``), e.g. a VERP address naming this message;
    #: empty means the ``From`` address.
    return_path: str = ""

    channel: Channel = field(default=Channel.EMAIL, init=False)


@dataclass(frozen=True)
class SmsMessage:
    """A rendered SMS; ``encoding`` is ``GSM-7`` or ``UCS-2``, ``segments`` its count."""

    to: str
    body: str
    encoding: str = "GSM-7"
    segments: int = 1

    channel: Channel = field(default=Channel.SMS, init=False)


@dataclass(frozen=True)
class PushSubscription:
    """Where a push message goes: a Web Push subscription or an FCM device token."""

    endpoint: str = ""
    p256dh: str = ""
    auth: str = ""
    fcm_token: str = ""


@dataclass(frozen=True)
class PushMessage:
    """A rendered push notification."""

    to: PushSubscription
    title: str
    body: str
    url: str = ""

    channel: Channel = field(default=Channel.PUSH, init=False)


class Integration(StrEnum):
    """A system (not a customer) the engine calls through the outbox: the signed outbound
    webhooks and the Shopify Admin API. Kept apart from :class:`Channel`, which rules list."""

    WEBHOOK = "webhook"
    SHOPIFY = "shopify"


@dataclass(frozen=True)
class WebhookCall:
    """One signed POST of ``body`` (JSON text, signed as is) to the receiver ``target``
    (``offers`` or ``escalation``); ``delivery_id`` goes out as ``X-Notifier-Delivery``
    so the receiver deduplicates a retry."""

    target: str
    event: str
    body: str
    delivery_id: int

    channel: Integration = field(default=Integration.WEBHOOK, init=False)


@dataclass(frozen=True)
class ShopCall:
    """One Shopify Admin API operation (``discount.create``) with its JSON ``data``."""

    operation: str
    data: str
    delivery_id: int

    channel: Integration = field(default=Integration.SHOPIFY, init=False)


class Kind(StrEnum):
    """What an outbox row carries: a customer message or a call made for the shop."""

    MESSAGE = "message"  # a rule's step to a customer: email, SMS or push
    SUPPORT = "support"  # an escalation email to the support inbox
    WEBHOOK = "webhook"  # offer.issued, offer.voided, escalation.created, pool alerts
    SHOPIFY = "shopify"  # a Shopify Admin API call (discount creation)
    TEST = "test"  # a template editor's test send: the rendered message in the payload


Message = EmailMessage | SmsMessage | PushMessage | WebhookCall | ShopCall


@dataclass(frozen=True)
class Outgoing:
    """A message on its way out, with the key that makes a send at most once.

    ``idempotency_key`` is the notification's natural key (rule, step, entity, channel);
    channels hand it to providers that accept one.
    """

    idempotency_key: str
    message: Message


@dataclass(frozen=True)
class SendResult:
    """What a provider answered when it accepted a message."""

    provider_id: str
    status: str = "sent"
    detail: str = ""


# --- Snapshots: what detection evaluates and templates render -------------------------
#
# Store rows are turned into these frozen snapshots once per tick; rules' ``when``
# expressions and templates both see the same fields, so an operator's condition and a
# marketer's template speak one vocabulary.


@dataclass(frozen=True)
class LineItem:
    name: str
    quantity: int = 1
    price: Decimal = Decimal(0)
    sku: str = ""
    url: str = ""
    image_url: str = ""


@dataclass(frozen=True)
class CustomerSnapshot:
    id: int
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    salutation: str | None = None  # "mr", "mrs", "ms" (Pan / Pani)
    gender: str | None = None  # "female", "male"
    locale: str | None = None
    timezone: str | None = None
    segment: str | None = None
    preferred_channel: str | None = None
    push_subscriptions: tuple[PushSubscription, ...] = ()


@dataclass(frozen=True)
class OrderSnapshot:
    id: int
    external_id: str
    number: str
    status: str
    payment_status: str
    currency: str
    total: Decimal
    items: tuple[LineItem, ...] = ()
    discount_codes: tuple[str, ...] = ()
    shipping_method: str | None = None
    payment_method: str | None = None
    is_test: bool = False
    placed_at: datetime | None = None
    ship_by: datetime | None = None
    deliver_by: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    # Where the parcel goes (transit predictions segment by destination region).
    ship_country: str | None = None
    ship_postcode: str | None = None


@dataclass(frozen=True)
class TrackingEvent:
    at: datetime
    status: str
    message: str = ""
    location: str = ""


@dataclass(frozen=True)
class ShipmentSnapshot:
    id: int
    status: str  # pending, in_transit, out_for_delivery, delivered, exception, returned
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    eta: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    last_event_at: datetime | None = None
    events: tuple[TrackingEvent, ...] = ()


@dataclass(frozen=True)
class CartSnapshot:
    id: int
    currency: str
    value: Decimal
    items: tuple[LineItem, ...] = ()
    recovery_url: str | None = None
    email: str | None = None
    phone: str | None = None
    last_activity_at: datetime | None = None
    completed_at: datetime | None = None
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class Facts:
    """What is known about one case: the entity a rule is about plus its related snapshots,
    as detection evaluates rules against them and dispatch decides a message with them.

    Any of them may be None: a guest cart has no customer, an order not yet shipped has no
    shipment. Each trigger says which it reads (:attr:`Trigger.sees`); conditions see the
    absent ones as ``none``.
    """

    customer: CustomerSnapshot | None = None
    order: OrderSnapshot | None = None
    shipment: ShipmentSnapshot | None = None
    cart: CartSnapshot | None = None
    #: The carriers' transit model in force (``shipment.at_risk`` predicts with it).
    transit: TransitModel | None = None


class OfferKind(StrEnum):
    """How an offer pays the customer back; templates branch on it."""

    PERCENT = "percent"
    AMOUNT = "amount"
    FREE_SHIPPING = "free_shipping"


@dataclass(frozen=True)
class OfferView:
    """A reserved discount as a template shows it.

    ``value`` is 10 for 10% (``PERCENT``), the amount in ``currency`` for ``AMOUNT`` and
    is ignored for ``FREE_SHIPPING``. Templates print it with ``{{ offer|discount }}``.
    """

    code: str
    kind: OfferKind
    value: Decimal = Decimal(0)
    currency: str = "PLN"
    expires_at: datetime | None = None
