"""Business days and public holidays of the shop's country (the ``holidays`` package).

Shared by ingest (promised dates count business days) and delivery (marketing waits out
public holidays such as 11 November in Poland).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=8)
def _calendar(country: str) -> holidays.HolidayBase:
    return holidays.country_holidays(country)


def is_public_holiday(day: date, country: str) -> bool:
    return day in _calendar(country)


def is_business_day(day: date, country: str) -> bool:
    return day.weekday() < 5 and not is_public_holiday(day, country)


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
