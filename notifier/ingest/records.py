"""Canonical inbound records: our own JSON API's schema and every adapter's output.

Each platform module (shopify.py, woocommerce.py, ...) maps its payloads onto these, and
one applier (apply.py) stores them; adding a platform means adding one mapping module.

Only the fields a sender set are applied (``model_fields_set``): a consent-only update
does not blank a customer's name. ``updated_at`` is the sender's modification time; a
record older than what we hold is stale and changes nothing.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

OrderStatus = Literal["pending", "confirmed", "shipped", "delivered", "cancelled"]
PaymentStatus = Literal["pending", "paid", "partially_paid", "refunded", "voided", "failed"]
ShipmentStatus = Literal[
    "pending",
    "label_created",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "attempted_delivery",
    "failed_delivery",
    "returned_to_sender",
    "damaged",
    "lost",
    "exception",
]
ChannelName = Literal["email", "sms", "push"]
PurposeName = Literal["transactional", "marketing"]

# RFC 5322 dot-atom local part (RFC 6531 lets it be UTF-8) and a host name: no quotes,
# brackets, angle brackets or commas, so what we store is the one mailbox a relay reads.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u00a0-\uffff-]+"
_LABEL = r"[A-Za-z0-9\u00a0-\uffff]([A-Za-z0-9\u00a0-\uffff-]*[A-Za-z0-9\u00a0-\uffff])?"
_EMAIL = re.compile(rf"^{_ATOM}(\.{_ATOM})*@({_LABEL}\.)+[A-Za-z\u00a0-\uffff]{{2,63}}$")
# Dates outside these years are typing mistakes or probes; promise arithmetic and time
# zone conversion overflow near year 1 and 9999.
MIN_YEAR, MAX_YEAR = 1970, 2199
# Bounds on what a message can render: a longer value is refused at the door (422 naming
# the field) rather than failing its message later.
MAX_QUANTITY = 100_000
MAX_ITEMS = 500

_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetime must include a timezone offset, e.g. 2026-11-26T10:00:00Z")
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


def _email(value: str) -> str:
    value = value.strip()
    if not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value.lower()


def _currency(value: str) -> str:
    value = value.strip().upper()
    if not _CURRENCY.match(value):
        raise ValueError("currency must be an ISO 4217 code such as PLN or EUR")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
Phone = Annotated[str, Field(max_length=64)]
Code = Annotated[str, Field(max_length=128)]
Label = Annotated[str, Field(max_length=256)]
Url = Annotated[str, Field(max_length=2048)]
Currency = Annotated[str, AfterValidator(_currency)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]


def normalise_phone(value: str, default_region: str = "PL") -> str:
    """E.164 or a ValueError: a number we cannot dial is worse than none."""
    try:
        parsed = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError("not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def destination(country: str | None, postcode: str | None) -> dict[str, str]:
    """``ship_country``/``ship_postcode`` from a platform's address; blanks and country
    names that are not ISO codes are left out rather than refusing the order."""
    out: dict[str, str] = {}
    code = (country or "").strip()
    if len(code) == 2 and code.isalpha():
        out["ship_country"] = code.upper()
    if (postcode or "").strip():
        out["ship_postcode"] = postcode.strip()[:16]  # type: ignore[union-attr]
    return out


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: str = Field(min_length=1, max_length=128)
    updated_at: AwareDatetime | None = None

    @field_validator("external_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: object) -> object:
        # Platforms send numeric ids; we key on text so every source fits one column.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def given(self) -> set[str]:
        """The fields the sender actually set."""
        return set(self.model_fields_set) - {"external_id", "updated_at"}


def _phone_field(value: str | None, info: ValidationInfo) -> str | None:
    if value is None or not value.strip():
        return None
    region = (info.context or {}).get("region", "PL")
    return normalise_phone(value, region)


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: ChannelName
    purpose: PurposeName = "marketing"
    granted: bool
    # When the customer acted. Without it a word never reverses an opt-out (see
    # store.consent_log.judge).
    at: AwareDatetime | None = None
    source: str = Field(default="api", max_length=64)


class PushSubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: Url = ""
    p256dh: Label = ""
    auth: Label = ""
    fcm_token: Annotated[str, Field(max_length=4096)] = ""


class CustomerIn(Record):
    email: Email | None = None
    phone: Phone | None = None
    first_name: str | None = Field(default=None, max_length=128)
    last_name: str | None = Field(default=None, max_length=128)
    salutation: Literal["mr", "mrs", "ms"] | None = None
    gender: Literal["female", "male"] | None = None
    locale: str | None = Field(default=None, max_length=16)
    timezone: str | None = None
    segment: str | None = Field(default=None, max_length=64)
    preferred_channel: ChannelName | None = None
    push_subscriptions: list[PushSubscriptionIn] | None = Field(default=None, max_length=20)
    consents: list[ConsentIn] = Field(default_factory=list, max_length=20)

    _phone = field_validator("phone")(_phone_field)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and value not in _zones():
            raise ValueError(f"unknown IANA timezone {value!r}")
        return value


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


class LineItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512)
    quantity: int = Field(default=1, ge=0, le=MAX_QUANTITY)
    price: Amount = Decimal(0)
    sku: Code = ""
    url: Url = ""
    image_url: Url = ""


class OrderIn(Record):
    number: str | None = Field(default=None, max_length=64)
    customer: CustomerIn | None = None
    status: OrderStatus = "confirmed"
    payment_status: PaymentStatus = "pending"
    payment_method: Label | None = None
    is_test: bool = False
    currency: Currency
    total: Amount
    subtotal: Amount | None = None
    shipping_total: Amount | None = None
    items: list[LineItemIn] = Field(default_factory=list, max_length=MAX_ITEMS)
    discount_codes: list[Code] = Field(default_factory=list, max_length=50)
    shipping_method: Label | None = None
    # The parcel's destination: transit predictions learn by country and postcode region.
    ship_country: Annotated[str, AfterValidator(str.upper)] | None = Field(
        default=None, pattern=r"^[A-Za-z]{2}$")
    ship_postcode: str | None = Field(default=None, max_length=16)
    locale: str | None = Field(default=None, max_length=16)
    cart_external_id: Code | None = None
    placed_at: AwareDatetime | None = None
    ship_by: AwareDatetime | None = None
    deliver_by: AwareDatetime | None = None
    cancelled_at: AwareDatetime | None = None
    shipped_at: AwareDatetime | None = None
    delivered_at: AwareDatetime | None = None


class TrackingEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Code | None = None
    at: AwareDatetime
    status: ShipmentStatus
    message: Annotated[str, Field(max_length=1024)] = ""
    location: Label = ""
    eta: AwareDatetime | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value


class ShipmentIn(Record):
    order_external_id: Code | None = None
    carrier: Label | None = None
    tracking_number: Code | None = None
    tracking_url: Url | None = None
    status: ShipmentStatus | None = None
    eta: AwareDatetime | None = None
    shipped_at: AwareDatetime | None = None
    delivered_at: AwareDatetime | None = None
    events: list[TrackingEventIn] = Field(default_factory=list, max_length=MAX_ITEMS)

    @field_validator("order_external_id", mode="before")
    @classmethod
    def _order_id_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @field_validator("status", mode="before")
    @classmethod
    def _status_not_null(cls, value: object) -> object:
        # Left out, the stored status stays (or the latest event's sets it); an explicit
        # null would be written over the stored one, and a parcel always has a status.
        if value is None:
            raise ValueError("status cannot be null: leave it out to keep the stored one")
        return value


class CartIn(Record):
    customer: CustomerIn | None = None
    email: Email | None = None
    phone: Phone | None = None
    currency: Currency
    value: Amount = Decimal(0)
    items: list[LineItemIn] = Field(default_factory=list, max_length=MAX_ITEMS)
    recovery_url: Url | None = None
    locale: str | None = Field(default=None, max_length=16)
    last_activity_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None
    deleted_at: AwareDatetime | None = None
    order_external_id: Code | None = None
    alias: Code | None = None  # another id the source knows the cart by (see Cart.alias)

    _phone = field_validator("phone")(_phone_field)


class CartDeleted(BaseModel):
    """A platform told us a cart/checkout is gone (Shopify checkouts/delete).

    ``external_id`` is the cart's own key when the platform names it; ``alias`` (Shopify's
    ``cart_token``) finds the cart when it does not."""

    external_id: str
    at: AwareDatetime
    alias: str | None = None


AnyRecord = CustomerIn | OrderIn | ShipmentIn | CartIn | CartDeleted
