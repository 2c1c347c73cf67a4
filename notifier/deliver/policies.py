"""Send-time policies as pure functions: quiet hours, public holidays, frequency caps, backoff.

The dispatcher asks these with plain values (the customer's zone, the times of recent
sends, ``now``); none of them reads the database or the clock. A policy never drops a
message on its own: it answers "not before T", and the dispatcher defers to T.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from notifier.config_types import TimeWindow
from notifier.workdays import is_public_holiday


def quiet_until(now: datetime, zone: ZoneInfo, window: TimeWindow | None) -> datetime | None:
    """When the quiet window containing ``now`` ends, or None when ``now`` is not quiet."""
    if window is None:
        return None
    local = now.astimezone(zone)
    if not window.contains(local.time()):
        return None
    end = window.end
    candidate = datetime.combine(local.date(), end, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    return candidate


def holiday_until(now: datetime, zone: ZoneInfo, country: str, opening: time) -> datetime | None:
    """On a public holiday of ``country``, when the next ordinary day opens; else None."""
    day = now.astimezone(zone).date()
    if not is_public_holiday(day, country):
        return None
    while is_public_holiday(day, country):
        day += timedelta(days=1)
    return datetime.combine(day, opening, tzinfo=zone)


def cap_until(
    sent: list[datetime], limit: int, window: timedelta, now: datetime
) -> datetime | None:
    """With ``limit`` sends allowed per ``window``, when the next one may go (None: now)."""
    recent = sorted(t for t in sent if now - window < t <= now)
    if len(recent) < limit:
        return None
    return recent[len(recent) - limit] + window


def backoff(attempt: int, *, base_s: float, max_s: float, retry_after: float | None = None,
            rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with jitter for the ``attempt``-th failure (1-based).

    Jitter (50-100% of the step) spreads a burst of failures so they do not all retry in
    the same second; a provider's Retry-After is a floor.
    """
    step = min(max_s, base_s * (2 ** max(0, attempt - 1)))
    delay = step * (0.5 + (rng or random).random() / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return timedelta(seconds=delay)
