"""Shop-local days and the pieces of a period: whole days the roll-up covers, and the rest.

A period ``[start, end)`` (UTC) is read as up to three pieces: the whole local days the
roll-up has (``rolled``), and before and after them what is counted live from the
notifications (a partial first or last day, the open days not rolled up yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The UTC moment a local day starts."""
    return datetime.combine(day, time(), zone).astimezone(UTC)


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def days_between(first: date, end: date) -> list[date]:
    """``first`` up to ``end`` exclusive."""
    return [first + timedelta(days=i) for i in range((end - first).days)]


@dataclass(frozen=True)
class Pieces:
    """``rolled``: the local days ``[first, end)`` read from the roll-up (None: none);
    ``live``: the UTC intervals around them counted from the notifications."""

    start: datetime
    rolled: tuple[date, date] | None
    live: tuple[tuple[datetime, datetime], ...]


def split(start: datetime, end: datetime, zone: ZoneInfo, rolled_until: date | None) -> Pieces:
    """The whole local days of ``[start, end)`` before ``rolled_until``, and the rest."""
    first = local_day(start, zone)
    if day_start(first, zone) < start:
        first += timedelta(days=1)  # the first day is partial: live
    last_end = local_day(end, zone)  # the day ``end`` falls in is partial (or starts at end)
    if day_start(last_end, zone) > end:  # pragma: no cover - a day starts at or before end
        last_end -= timedelta(days=1)
    if rolled_until is not None:
        last_end = min(last_end, rolled_until)
    if rolled_until is None or last_end <= first:
        return Pieces(start, None, ((start, end),))
    lo, hi = day_start(first, zone), day_start(last_end, zone)
    live = tuple((a, b) for a, b in ((start, lo), (hi, end)) if a < b)
    return Pieces(start, (first, last_end), live)
