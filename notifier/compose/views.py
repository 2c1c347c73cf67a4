"""What a template sees: the RenderContext plus a few facts derived once, here.

Templates should not compute dates or classify carrier statuses; they get
``shipment.days_late`` and ``shipment.problem`` ready to print or branch on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from notifier.compose.context import RenderContext
from notifier.compose.filters import FORMATTER_KEY, Formatter
from notifier.domain import OrderSnapshot, ShipmentSnapshot, TrackingEvent

# shipment.problem values, the closed vocabulary templates branch on.
FAILED_ATTEMPT = "failed_attempt"
RETURNED = "returned"
DAMAGED = "damaged"
LOST = "lost"
OTHER = "other"

_PROBLEM_WORDS = (
    (DAMAGED, ("damag", "broken")),
    (LOST, ("lost", "missing")),
    (RETURNED, ("return", "sender")),
    (FAILED_ATTEMPT, ("attempt", "fail", "undeliver", "not_delivered", "refused", "absent")),
)


@dataclass(frozen=True)
class ShipmentView:
    """A shipment with the facts templates need: ``days_late``, ``problem``, ``last_event``.

    ``problem`` is ``None`` unless the parcel is in trouble, then one of
    ``failed_attempt``, ``returned``, ``damaged``, ``lost`` or ``other``.
    ``days_late`` counts calendar days from the promised delivery date (the order's
    ``deliver_by``) to the new ETA, or to today when there is no ETA; 0 when on time.
    ``days_without_scan`` counts calendar days since the carrier's last event (``None``
    when there has been none).
    """

    status: str
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    eta: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    last_event_at: datetime | None
    events: tuple[TrackingEvent, ...]
    last_event: TrackingEvent | None
    problem: str | None
    promised_by: datetime | None
    days_late: int
    is_late: bool
    days_without_scan: int | None


def shipment_view(
    shipment: ShipmentSnapshot, order: OrderSnapshot | None, now: datetime, tz: ZoneInfo
) -> ShipmentView:
    last_event = max(shipment.events, key=lambda e: _aware(e.at)) if shipment.events else None
    promised = order.deliver_by if order else None
    days_late = 0
    if promised is not None:
        reference = shipment.eta or now
        days_late = max(0, (_day(reference, tz) - _day(promised, tz)).days)
    last_scan = shipment.last_event_at or (last_event.at if last_event else None)
    quiet = max(0, (_day(now, tz) - _day(last_scan, tz)).days) if last_scan else None
    return ShipmentView(
        status=shipment.status,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        tracking_url=shipment.tracking_url,
        eta=shipment.eta,
        shipped_at=shipment.shipped_at,
        delivered_at=shipment.delivered_at,
        last_event_at=shipment.last_event_at,
        events=shipment.events,
        last_event=last_event,
        problem=classify_problem(shipment.status, last_event.status if last_event else ""),
        promised_by=promised,
        days_late=days_late,
        is_late=days_late > 0,
        days_without_scan=quiet,
    )


def classify_problem(shipment_status: str, event_status: str) -> str | None:
    """Map carrier wording to our vocabulary; the last event speaks before the status."""
    for text in (event_status, shipment_status):
        lowered = text.lower()
        for problem, words in _PROBLEM_WORDS:
            if any(word in lowered for word in words):
                return problem
    return OTHER if shipment_status.lower() in {"exception", "returned"} else None


def namespace(ctx: RenderContext, formatter: Formatter, **extra: Any) -> dict[str, Any]:
    """The variables every template of one message is rendered with."""
    links = ctx.links
    if links.tracking is None and ctx.shipment is not None and ctx.shipment.tracking_url:
        links = dataclasses.replace(links, tracking=ctx.shipment.tracking_url)
    shipment = (
        shipment_view(ctx.shipment, ctx.order, ctx.now, formatter.tz) if ctx.shipment else None
    )
    return {
        "customer": ctx.customer,
        "order": ctx.order,
        "shipment": shipment,
        "cart": ctx.cart,
        "offer": ctx.offer,
        "shop": ctx.shop,
        "links": links,
        "now": ctx.now,
        "purpose": ctx.purpose.value,
        "is_marketing": ctx.purpose.value == "marketing",
        "lang": formatter.language,
        FORMATTER_KEY: formatter,
        **extra,
    }


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day(moment: datetime, tz: ZoneInfo) -> Any:
    return _aware(moment).astimezone(tz).date()
