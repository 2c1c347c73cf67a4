"""What a parcel's history says about transit times: its stays between scans.

A *stay* begins with a scan (or the hand-over, for a parcel without scans) and lasts
until the next scan or the delivery. For each stay we note how long the parcel stayed
silent and how long it still took to be delivered, both in business hours; what has not
happened yet when the model is fitted is censored at that moment. Only stays in a moving
status count (in transit, out for delivery): a parcel with an exception is
``shipment.exception``'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from notifier.detect.statuses import MOVING, ShipmentStatus, shipment_status
from notifier.domain import OrderSnapshot, ShipmentSnapshot
from notifier.transit.hours import BusinessClock
from notifier.transit.model import FitSettings, Position, normalise, region_of


@dataclass(frozen=True)
class Stay:
    """One stay: ``silent`` hours without a newer scan (``ended``: a scan or the delivery
    came), ``remaining`` hours from its scan to delivery (``delivered``: it came)."""

    position: Position
    silent: float
    ended: bool
    remaining: float
    delivered: bool


def delivered_moment(shipment: ShipmentSnapshot, order: OrderSnapshot | None,
                     until: datetime) -> datetime | None:
    """When the parcel was delivered, if it was by ``until``."""
    moments = [shipment.delivered_at,
               *(e.at for e in shipment.events
                 if shipment_status(e.status) is ShipmentStatus.DELIVERED)]
    if order is not None and shipment.delivered_at is None:
        moments.append(order.delivered_at)
    known = [m for m in moments if m is not None and m <= until]
    return min(known) if known else None


def scans(shipment: ShipmentSnapshot, until: datetime) -> list[tuple[datetime, str]]:
    """(moment, normalised status) of every scan up to ``until`` before the delivery; the
    hand-over counts as an ``in_transit`` scan when no scan came before it."""
    out = sorted(((e.at, shipment_status(e.status) or e.status) for e in shipment.events
                  if e.at <= until), key=lambda s: s[0])
    out = [s for s in out if s[1] != ShipmentStatus.DELIVERED]
    handed = shipment.shipped_at
    if handed is not None and handed <= until and (not out or out[0][0] > handed):
        out.insert(0, (handed, ShipmentStatus.IN_TRANSIT.value))
    return out


@dataclass(frozen=True)
class Segmenter:
    """Names a parcel's segment: normalised carrier and service, region of destination."""

    home: str = "PL"
    digits: int = 2

    def position(self, shipment: ShipmentSnapshot, order: OrderSnapshot | None,
                 at: datetime, status: str) -> Position:
        return Position(
            carrier=normalise(shipment.carrier),
            service=normalise(order.shipping_method if order else None),
            region=region_of(order.ship_country if order else None,
                             order.ship_postcode if order else None,
                             home=self.home, digits=self.digits),
            status=status, since=at)


def segmenter_for(settings: FitSettings) -> Segmenter:
    return Segmenter(home=settings.country, digits=settings.region_digits)


def current_position(shipment: ShipmentSnapshot, order: OrderSnapshot | None, now: datetime,
                     segmenter: Segmenter) -> Position | None:
    """Where the parcel is at ``now``: None when it is delivered or not moving."""
    if delivered_moment(shipment, order, now) is not None:
        return None
    seen = scans(shipment, now)
    if not seen:
        return None
    at, status = seen[-1]
    if shipment_status(status) not in MOVING:
        return None
    return segmenter.position(shipment, order, at, status)


def stays(shipment: ShipmentSnapshot, order: OrderSnapshot | None, as_of: datetime,
          clock: BusinessClock, segmenter: Segmenter) -> list[Stay]:
    """Every moving stay of the parcel known at ``as_of``."""
    delivered = delivered_moment(shipment, order, as_of)
    seen = scans(shipment, delivered or as_of)
    # Not delivered: known to take at least until now, or, when it left the moving
    # statuses (returned, lost), at least until that scan.
    end = delivered or as_of
    if delivered is None and seen and shipment_status(seen[-1][1]) not in MOVING:
        end = seen[-1][0]
    out: list[Stay] = []
    for i, (at, status) in enumerate(seen):
        if shipment_status(status) not in MOVING:
            continue
        following = seen[i + 1][0] if i + 1 < len(seen) else delivered
        out.append(Stay(
            position=segmenter.position(shipment, order, at, status),
            silent=clock.hours(at, following or as_of), ended=following is not None,
            remaining=clock.hours(at, end), delivered=delivered is not None))
    return out
