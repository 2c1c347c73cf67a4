"""Promised ship-by and deliver-by dates for shops that send none.

Shopify and WooCommerce rarely carry a promise, so we derive one from the shop's service
level for the shipping method, counted in business days of the shop's country: weekends
and public holidays (the ``holidays`` package; for Poland, Nov 11, Christmas, Easter...)
do not count. A deadline is the end of its business day in the shop's timezone.

    ship_by("2026-12-23 15:00 Warsaw", ship_within=1) -> 2026-12-28 23:59:59 Warsaw
"""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from notifier.config import ServiceLevel
from notifier.workdays import add_business_days


def _end_of(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz)


def promise(
    placed_at: datetime, level: ServiceLevel, *, country: str, timezone: str
) -> tuple[datetime, datetime]:
    """(ship_by, deliver_by) for an order placed at ``placed_at``."""
    tz = ZoneInfo(timezone)
    ship_day, deliver_day = _days(placed_at.astimezone(tz).date(), level.ship_within_days,
                                  level.deliver_within_days, country)
    return _end_of(ship_day, tz), _end_of(deliver_day, tz)


@lru_cache(maxsize=4096)
def _days(placed_day: date, ship_within: int, deliver_within: int,
          country: str) -> tuple[date, date]:
    # A sale's orders share a handful of days: the calendar walk is done once per day.
    ship_day = add_business_days(placed_day, ship_within, country)
    return ship_day, add_business_days(ship_day, deliver_within, country)
