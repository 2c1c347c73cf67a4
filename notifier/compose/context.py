"""What the engine hands the compose stage: one frozen :class:`RenderContext` per message.

The engine builds it from the snapshots of :mod:`notifier.domain`, the offer it reserved
and the links it signed; compose never reads the database. ``None`` means "not part of
this message" (a cart reminder has no order); a template that prints a missing value
fails instead of leaving a blank in front of a customer.

    ctx = RenderContext(
        customer=customer, order=order, shipment=shipment, cart=None,
        offer=OfferView(code="SORRY10", kind=OfferKind.PERCENT, value=Decimal(10),
                        currency="PLN", expires_at=expiry),
        shop=ShopView.from_settings(settings.shop),
        links=Links(unsubscribe=unsub_url, preferences=prefs_url),
        now=now, purpose=Purpose.TRANSACTIONAL,
    )
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from notifier.config import ShopSettings
from notifier.domain import (
    CartSnapshot,
    CustomerSnapshot,
    OfferKind,
    OfferView,
    OrderSnapshot,
    Purpose,
    ShipmentSnapshot,
)

__all__ = ["Links", "OfferKind", "OfferView", "RenderContext", "ShopView"]


@dataclass(frozen=True)
class ShopView:
    """The shop as customers see it: a name and a way to reach a person."""

    name: str
    support_email: str | None = None
    support_phone: str | None = None
    contact_url: str | None = None
    currency: str = "PLN"
    timezone: str = "Europe/Warsaw"
    default_locale: str = "pl"

    @classmethod
    def from_settings(cls, shop: ShopSettings) -> ShopView:
        """Empty strings in settings become ``None`` so templates can test them."""
        return cls(
            name=shop.name,
            support_email=shop.support_email or None,
            support_phone=shop.support_phone or None,
            contact_url=shop.contact_url or None,
            currency=shop.currency,
            timezone=shop.timezone,
            default_locale=shop.default_locale,
        )


@dataclass(frozen=True)
class Links:
    """Signed, customer-specific URLs made by the engine; ``None`` when not applicable.

    Marketing emails need ``unsubscribe`` (it also goes into the ``List-Unsubscribe``
    header). ``tracking`` defaults to the shipment's carrier link when left ``None``.
    """

    unsubscribe: str | None = None
    preferences: str | None = None
    tracking: str | None = None
    #: One-click answers of the step's question, ``((score, url), ...)`` low to high;
    #: ``survey_kind`` is ``csat`` (1-5) or ``nps`` (0-10), empty when nothing is asked.
    survey: tuple[tuple[int, str], ...] = ()
    survey_kind: str = ""


@dataclass(frozen=True, kw_only=True)
class RenderContext:
    """Everything one message may mention; built by the engine, read by templates."""

    customer: CustomerSnapshot | None = None
    order: OrderSnapshot | None = None
    shipment: ShipmentSnapshot | None = None
    cart: CartSnapshot | None = None
    offer: OfferView | None = None
    shop: ShopView
    links: Links = Links()
    now: datetime
    purpose: Purpose
