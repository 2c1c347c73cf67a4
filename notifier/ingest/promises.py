"""Promised ship-by and deliver-by dates for shops that send none.

Shopify and WooCommerce rarely carry a promise, so we derive one from the shop's service
level for the shipping method, counted in business days of the shop's country: weekends
and public holidays (the ``holidays`` package; for Poland, Nov 11, Christmas, Easter...)
do not count. A deadline is the end of its business day in the shop's timezone.

    ship_by("2026-12-23 15:00 Warsaw", ship_within=1) -> 2026-12-28 23:59:59 Warsaw
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from notifier.config import ServiceLevel


@lru_cache(maxsize=8)
def _calendar(country: str) -> holidays.HolidayBase:
    return holidays.country_holidays(country)


def is_business_day(day: date, country: str) -> bool:
    return day.weekday() < 5 and day not in _calendar(country)


def add_business_days(start: date, days: int, country: str) -> date:
    """The ``days``-th business day after ``start``; with 0, ``start`` or the next business day."""
    day = start
    remaining = days
    while remaining == 0 and not is_business_day(day, country):
        day += timedelta(days=1)
    while remaining > 0:
        day += timedelta(days=1)
        if is_business_day(day, country):
            remaining -= 1
    return day


def _end_of(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz)


def promise(
    placed_at: datetime, level: ServiceLevel, *, country: str, timezone: str
) -> tuple[datetime, datetime]:
    """(ship_by, deliver_by) for an order placed at ``placed_at``."""
    tz = ZoneInfo(timezone)
    placed_day = placed_at.astimezone(tz).date()
    ship_day = add_business_days(placed_day, level.ship_within_days, country)
    deliver_day = add_business_days(ship_day, level.deliver_within_days, country)
    return _end_of(ship_day, tz), _end_of(deliver_day, tz)
