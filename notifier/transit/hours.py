"""Business hours: the clock carriers keep. Weekends and public holidays do not count.

A business day counts all of its 24 hours (parcels move at night in sorting hubs); a
Saturday, a Sunday or a holiday of the shop's country (the ``holidays`` package, as
:mod:`notifier.workdays` uses it) counts none. Days are cut at midnight in the shop's
timezone and counted on the wall clock (a day of a DST change is 24 hours too). So a
parcel picked up on Friday 15:00 and delivered on Monday 10:00 took 19 business hours.

    clock = BusinessClock(country="PL", timezone="Europe/Warsaw")
    clock.hours(picked_up, delivered)     # -> 19.0
    clock.add(picked_up, 19.0)            # -> Monday 10:00
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from notifier.workdays import is_business_day


@dataclass(frozen=True)
class BusinessClock:
    """Counts and adds business hours in one country's calendar and timezone."""

    country: str = "PL"
    timezone: str = "Europe/Warsaw"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_business_day(self, day: date) -> bool:
        return is_business_day(day, self.country)

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.zone)

    def hours(self, start: datetime, end: datetime) -> float:
        """Business hours from ``start`` to ``end`` (negative when ``end`` is earlier)."""
        if end < start:
            return -self.hours(end, start)
        zone = self.zone
        a, b = start.astimezone(zone), end.astimezone(zone)
        total = 0.0
        day = a.date()
        while day <= b.date():
            if self.is_business_day(day):
                lo = max(a, self._midnight(day))
                hi = min(b, self._midnight(day + timedelta(days=1)))
                if hi > lo:
                    total += (hi - lo).total_seconds() / 3600
            day += timedelta(days=1)
        return total

    def add(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` business hours after ``start`` (``start`` itself for 0).

        Starting on a day off, the count begins at the next business day's midnight.
        """
        zone = self.zone
        at = start.astimezone(zone)
        left = max(hours, 0.0)
        while True:
            day = at.date()
            end_of_day = self._midnight(day + timedelta(days=1))
            if self.is_business_day(day):
                room = (end_of_day - at).total_seconds() / 3600
                if left <= room:
                    return (at + timedelta(hours=left)).astimezone(start.tzinfo)
                left -= room
            at = end_of_day
