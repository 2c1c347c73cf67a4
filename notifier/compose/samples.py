"""Built-in sample data for previews and ``templates check``.

A Polish customer (Anna Kowalska), an English one (Emily Clarke), an order promised for
Friday 28 November 2025 whose parcel now arrives on Wednesday 3 December, a cart, and
one offer of each kind. ``scenarios`` varies them (every offer kind and none, every
shipment problem, a guest cart, a customer we cannot address by name) so a template
that forgets an ``{% if %}`` fails the check, not a customer's message.

A ``--sample FILE`` (JSON or TOML) overrides any field:

    [customer]
    first_name = "Tomasz"
    salutation = "mr"
    [offer]
    kind = "amount"
    value = "20.00"
    expires_at = "2025-12-20T23:59:00+01:00"

``offer = false`` (TOML) or ``"offer": null`` (JSON) renders without an offer.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from notifier.compose.context import Links, OfferKind, OfferView, RenderContext, ShopView
from notifier.compose.layout import language_of, normalise_locale
from notifier.config import ShopSettings
from notifier.domain import (
    CartSnapshot,
    CustomerSnapshot,
    LineItem,
    OrderSnapshot,
    Purpose,
    PushSubscription,
    ShipmentSnapshot,
    TrackingEvent,
)
from notifier.errors import TemplateError

# What a message is about decides which snapshots a real context carries.
CART, ORDER, SHIPMENT = "cart", "order", "shipment"

SAMPLE_NOW = datetime(2025, 12, 1, 9, 30, tzinfo=UTC)  # a Monday
_PROMISED = datetime(2025, 11, 28, 17, 0, tzinfo=UTC)  # Friday
_NEW_ETA = datetime(2025, 12, 3, 12, 0, tzinfo=UTC)  # Wednesday
_EXPIRY = datetime(2025, 12, 15, 22, 59, tzinfo=UTC)  # Monday 23:59 in Warsaw

_PUSH = PushSubscription(endpoint="https://push.example.com/sub/abc", p256dh="p", auth="a")


# Shipped messages sent as marketing (they need consent and an unsubscribe link); the
# engine's rules decide for real, a --sample file can set "purpose" for others.
MARKETING_MESSAGES = frozenset({"cart_reminder", "cart_reminder_offer", "order_delivered_followup"})


def purpose_of(message_name: str) -> Purpose:
    marketing = message_name in MARKETING_MESSAGES or about_of(message_name) == CART
    return Purpose.MARKETING if marketing else Purpose.TRANSACTIONAL


def about_of(message_name: str) -> str:
    """``cart``, ``order`` or ``shipment`` from the message name's prefix."""
    for about in (CART, SHIPMENT):
        if message_name.startswith(about + "_"):
            return about
    return ORDER


def polish_customer(locale: str = "pl_PL") -> CustomerSnapshot:
    return CustomerSnapshot(
        id=101,
        email="anna.kowalska@example.com",
        phone="+48600100200",
        first_name="Anna",
        last_name="Kowalska",
        salutation="ms",
        gender="female",
        locale=locale,
        timezone="Europe/Warsaw",
        push_subscriptions=(_PUSH,),
    )


def english_customer(locale: str = "en_GB") -> CustomerSnapshot:
    return CustomerSnapshot(
        id=102,
        email="emily.clarke@example.com",
        phone="+447700900123",
        first_name="Emily",
        last_name="Clarke",
        salutation="ms",
        gender="female",
        locale=locale,
        timezone="Europe/London",
        push_subscriptions=(_PUSH,),
    )


def sample_customer(locale: str) -> CustomerSnapshot:
    norm = normalise_locale(locale) or "pl"
    if language_of(norm) == "en":
        return english_customer("en_GB" if norm == "en" else norm)
    return polish_customer("pl_PL" if norm == "pl" else norm)


def _items(language: str) -> tuple[LineItem, ...]:
    if language == "pl":
        names = ("Czajnik elektryczny Retro", "Kubek ceramiczny 350 ml")
    else:
        names = ("Retro electric kettle", "Ceramic mug 350 ml")
    return (
        LineItem(names[0], 1, Decimal("249.00"), "KET-01", "https://sklep.example.com/p/ket-01"),
        LineItem(names[1], 2, Decimal("39.90"), "MUG-35", "https://sklep.example.com/p/mug-35"),
    )


def sample_order(language: str, currency: str) -> OrderSnapshot:
    return OrderSnapshot(
        id=5001,
        external_id="gid://shop/Order/5001",
        number="10234",
        status="confirmed",
        payment_status="paid",
        currency=currency,
        total=Decimal("1234.50"),
        items=_items(language),
        shipping_method="InPost Paczkomat",
        payment_method="BLIK",
        placed_at=SAMPLE_NOW - timedelta(days=6),
        ship_by=_PROMISED - timedelta(days=1),
        deliver_by=_PROMISED,
    )


def sample_shipment(
    status: str = "in_transit", event: str = "in_transit", eta: datetime | None = _NEW_ETA
) -> ShipmentSnapshot:
    last_at = SAMPLE_NOW - timedelta(days=2)
    return ShipmentSnapshot(
        id=7001,
        status=status,
        carrier="InPost",
        tracking_number="620354701234567890123",
        tracking_url="https://inpost.pl/sledzenie-przesylek?number=620354701234567890123",
        eta=eta,
        shipped_at=SAMPLE_NOW - timedelta(days=4),
        last_event_at=last_at,
        events=(
            TrackingEvent(SAMPLE_NOW - timedelta(days=4), "picked_up", "Przyjęta w oddziale"),
            TrackingEvent(last_at, event, "", "Warszawa"),
        ),
    )


def sample_cart(language: str, currency: str) -> CartSnapshot:
    return CartSnapshot(
        id=3001,
        currency=currency,
        value=Decimal("328.80"),
        items=_items(language),
        recovery_url="https://sklep.example.com/c/7Hx2Qp",
        email="anna.kowalska@example.com",
        phone="+48600100200",
        last_activity_at=SAMPLE_NOW - timedelta(hours=3),
    )


def sample_offers(currency: str) -> dict[str, OfferView | None]:
    return {
        "percent": OfferView("RABAT10", OfferKind.PERCENT, Decimal(10), currency, _EXPIRY),
        "amount": OfferView("RABAT20", OfferKind.AMOUNT, Decimal("20.00"), currency, _EXPIRY),
        "free_shipping": OfferView("DOSTAWA0", OfferKind.FREE_SHIPPING, Decimal(0), currency),
        "none": None,
    }


def sample_links() -> Links:
    return Links(
        unsubscribe="https://sklep.example.com/u/Zx81Qa",
        preferences="https://sklep.example.com/prefs/Zx81Qa",
        tracking="https://sklep.example.com/t/8KQ2ZX",
    )


def sample_context(
    message_name: str,
    locale: str,
    shop: ShopSettings,
    *,
    overrides: Mapping[str, Any] | None = None,
) -> RenderContext:
    """The preview context for ``message_name`` read in ``locale``, with ``overrides``."""
    ctx = _base(message_name, locale, shop)
    return apply_overrides(ctx, overrides) if overrides else ctx


def scenarios(
    message_name: str, locale: str, shop: ShopSettings
) -> Iterator[tuple[str, RenderContext]]:
    """Labelled contexts a template must render with, for ``templates check``."""
    about = about_of(message_name)
    base = _base(message_name, locale, shop)
    for kind, offer in sample_offers(shop.currency).items():
        yield f"offer={kind}", dataclasses.replace(base, offer=offer)
    for purpose in Purpose:
        yield f"purpose={purpose.value}", dataclasses.replace(base, purpose=purpose)
    if base.customer is not None:
        unnamed = dataclasses.replace(
            base.customer, first_name=None, last_name=None, salutation=None, gender=None
        )
        yield "unnamed customer", dataclasses.replace(base, customer=unnamed)
    if about == CART:
        yield "guest cart", dataclasses.replace(base, customer=None)
    if about == SHIPMENT:
        for label, shipment in _shipment_variants():
            yield label, dataclasses.replace(base, shipment=shipment)


def _shipment_variants() -> Iterator[tuple[str, ShipmentSnapshot]]:
    yield "shipment without eta", sample_shipment(eta=None)
    yield "shipment on time", sample_shipment(eta=_PROMISED - timedelta(days=1))
    for status, event in (
        ("exception", "failed_attempt"),
        ("exception", "damaged"),
        ("exception", "lost"),
        ("returned", "return_to_sender"),
        ("exception", "customs_hold"),
    ):
        yield f"shipment problem={event}", sample_shipment(status, event, eta=None)


def _base(message_name: str, locale: str, shop: ShopSettings) -> RenderContext:
    about = about_of(message_name)
    language = language_of(normalise_locale(locale) or "pl")
    currency = shop.currency
    order = sample_order(language, currency)
    shipment = sample_shipment()
    if "exception" in message_name:
        shipment = sample_shipment("exception", "failed_attempt", eta=None)
    elif "delivered" in message_name:
        order = dataclasses.replace(order, status="delivered", delivered_at=_NEW_ETA)
    return RenderContext(
        customer=sample_customer(locale),
        order=None if about == CART else order,
        shipment=shipment if about == SHIPMENT else None,
        cart=sample_cart(language, currency) if about == CART else None,
        offer=sample_offers(currency)["percent"],
        shop=ShopView.from_settings(shop),
        links=sample_links(),
        now=SAMPLE_NOW,
        purpose=purpose_of(message_name),
    )


# --- overrides from a --sample file -------------------------------------------------


def load_sample_file(path: Path) -> dict[str, Any]:
    """Read a JSON or TOML override file; TemplateError names the file when unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise TemplateError(f"{path}:1: cannot read sample: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{path}:1: a sample must be a table/object at the top level")
    return data


_SECTIONS = {
    "customer": CustomerSnapshot,
    "order": OrderSnapshot,
    "shipment": ShipmentSnapshot,
    "cart": CartSnapshot,
    "offer": OfferView,
    "shop": ShopView,
    "links": Links,
}


def apply_overrides(ctx: RenderContext, data: Mapping[str, Any]) -> RenderContext:
    """``ctx`` with the fields named in ``data`` replaced, converted to their types."""
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            if value is None or value is False:
                changes[key] = None
            elif isinstance(value, Mapping):
                changes[key] = _merge(_SECTIONS[key], getattr(ctx, key), value, key)
            else:
                raise TemplateError(f"sample: {key} must be a table, null or false")
        elif key == "now":
            changes[key] = _convert(datetime, value, key)
        elif key == "purpose":
            changes[key] = _convert(Purpose, value, key)
        else:
            raise TemplateError(f"sample: unknown key {key!r}")
    return dataclasses.replace(ctx, **changes)


def _merge(cls: type, base: Any, values: Mapping[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = set(values) - known
    if unknown:
        raise TemplateError(f"sample: unknown field(s) {sorted(unknown)} in {where}")
    converted = {k: _convert(hints[k], v, f"{where}.{k}") for k, v in values.items()}
    try:
        return dataclasses.replace(base, **converted) if base is not None else cls(**converted)
    except TypeError as exc:
        raise TemplateError(f"sample: {where}: {exc}") from exc


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(options[0], value, where)
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        return tuple(_convert(inner, v, f"{where}[{i}]") for i, v in enumerate(value))
    try:
        if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
            return _merge(tp, None, value, where)  # type: ignore[arg-type]
        if tp is datetime:
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if tp is Decimal:
            return Decimal(str(value))
        if isinstance(tp, type) and issubclass(tp, Enum):
            return tp(value)
        if tp in (int, str, bool) and not isinstance(value, tp):
            raise TypeError(f"expected {tp.__name__}")
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise TemplateError(f"sample: {where}: cannot use {value!r}: {exc}") from exc
    return value
