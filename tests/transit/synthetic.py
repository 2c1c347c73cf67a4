"""A synthetic shipping history with a known truth, for the transit model's tests and bench.

Two carriers serve the same shop. ``swiftpost`` is reliable: picked up, scanned at a hub a
few hours later, out for delivery the next business day, delivered; now and then (2 %) a
parcel sits at the hub up to a day longer. ``slowcourier`` does the same, except that parcels
handed over on a Friday to the remote region (postcodes 38-xxx) usually (80 %) sit at the
hub for two to four more business days — its slow tail. Elsewhere it is as reliable
as the other. Every duration is drawn in
business hours (Polish weekends and holidays do not count), so the truth is known exactly:
:func:`true_transit_sf` is the generator's own distribution of hand-over -> delivery.

The promise is the end of the second business day after the hand-over day.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from notifier.domain import OrderSnapshot, ShipmentSnapshot, TrackingEvent
from notifier.transit.hours import BusinessClock
from notifier.workdays import add_business_days, is_business_day

WARSAW = ZoneInfo("Europe/Warsaw")
CLOCK = BusinessClock("PL", "Europe/Warsaw")
RELIABLE, SLOW = "swiftpost", "slowcourier"
REMOTE = "38-500"
OTHER_POSTCODES = ("00-950", "30-001", "50-001", "60-101", "80-001", "90-001")


@dataclass(frozen=True)
class Legs:
    """One parcel's drawn durations in business hours."""

    to_hub: float
    stall: float
    to_door: float
    last_mile: float

    @property
    def total(self) -> float:
        return self.to_hub + self.stall + self.to_door + self.last_mile


def draw_legs(rng: random.Random, carrier: str, friday: bool, remote: bool) -> Legs:
    if carrier == SLOW and friday and remote:
        stall = rng.uniform(48, 96) if rng.random() < 0.8 else 0.0
    else:
        stall = rng.uniform(6, 30) if rng.random() < 0.02 else 0.0
    return Legs(to_hub=rng.uniform(3, 8), stall=stall, to_door=rng.uniform(12, 20),
                last_mile=rng.uniform(1, 6))


def promise_for(handed: datetime) -> datetime:
    day = add_business_days(handed.astimezone(WARSAW).date(), 2, "PL")
    return datetime.combine(day, time(23, 59, 59), tzinfo=WARSAW)


def generate(*, start: date, days: int, per_day: int = 24, seed: int = 19,
             until: datetime | None = None, first_id: int = 1
             ) -> list[tuple[ShipmentSnapshot, OrderSnapshot]]:
    """Parcels handed over on the business days of ``[start, start + days)``.

    With ``until``, history is cut there: later scans are not yet known and parcels not
    delivered by then are still on their way (what a database would hold at that moment).
    """
    rng = random.Random(seed)
    out: list[tuple[ShipmentSnapshot, OrderSnapshot]] = []
    n = first_id
    for offset in range(days):
        day = start + timedelta(days=offset)
        if not is_business_day(day, "PL"):
            continue
        for _ in range(per_day):
            carrier = RELIABLE if rng.random() < 0.5 else SLOW
            remote = rng.random() < 0.25
            postcode = REMOTE if remote else rng.choice(OTHER_POSTCODES)
            handed = datetime.combine(day, time(9), tzinfo=WARSAW) + timedelta(
                minutes=rng.uniform(0, 8 * 60))
            legs = draw_legs(rng, carrier, day.weekday() == 4, remote)
            if until is not None and handed > until:
                continue
            out.append(parcel(n, carrier, postcode, handed, legs, until=until))
            n += 1
    return out


def parcel(n: int, carrier: str, postcode: str, handed: datetime, legs: Legs, *,
           until: datetime | None = None) -> tuple[ShipmentSnapshot, OrderSnapshot]:
    hub = CLOCK.add(handed, legs.to_hub)
    door = CLOCK.add(hub, legs.stall + legs.to_door)
    delivered = CLOCK.add(door, legs.last_mile)
    events = [TrackingEvent(handed, "in_transit", "picked up"),
              TrackingEvent(hub, "in_transit", "at the sorting hub"),
              TrackingEvent(door, "out_for_delivery"),
              TrackingEvent(delivered, "delivered")]
    if until is not None:
        events = [e for e in events if e.at <= until]
    done = delivered if until is None or delivered <= until else None
    order = OrderSnapshot(
        id=n, external_id=f"o{n}", number=str(1000 + n),
        status="delivered" if done else "shipped", payment_status="paid", currency="PLN",
        total=Decimal("100"), shipping_method="Kurier",
        placed_at=handed - timedelta(hours=20), deliver_by=promise_for(handed),
        shipped_at=handed, delivered_at=done, ship_country="PL", ship_postcode=postcode)
    shipment = ShipmentSnapshot(
        id=n, status=events[-1].status, carrier=carrier, tracking_number=f"T{n}",
        shipped_at=handed, delivered_at=done, last_event_at=events[-1].at,
        events=tuple(events))
    return shipment, order
