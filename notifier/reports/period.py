"""The report period from what an operator types: ``--from 2026-11-01 --to 2026-11-30``.

A date is a whole day in the shop's timezone (``to`` included); a moment needs its offset
(``2026-11-01T00:00:00+01:00``). Without ``from`` the period is the 30 days before ``to``;
without ``to`` it ends now. The result is ``[start, end)`` in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_DAYS = 30


class PeriodError(ValueError):
    """A bound that is not a date or an ISO-8601 moment with offset; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def parse_period(start: str | None, end: str | None, *, now: datetime,
                 timezone: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(timezone)
    upper = _bound("to", end, zone, end_of_day=True) if end else now.astimezone(UTC)
    lower = (_bound("from", start, zone, end_of_day=False) if start
             else upper - timedelta(days=DEFAULT_DAYS))
    if lower >= upper:
        raise PeriodError("from", f"must be before to ({lower.isoformat()} >= "
                                  f"{upper.isoformat()})")
    return lower, upper


def _bound(field: str, text: str, zone: ZoneInfo, *, end_of_day: bool) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1 if end_of_day else 0)
            return datetime.combine(day, time(0), zone).astimezone(UTC)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise PeriodError(field, f"not a date (YYYY-MM-DD) or ISO-8601 moment: {text!r}") \
            from exc
    if moment.tzinfo is None:
        raise PeriodError(field, "a moment needs its offset, e.g. 2026-11-01T00:00:00+01:00")
    return moment.astimezone(UTC)
