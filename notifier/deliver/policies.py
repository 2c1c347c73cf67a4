"""Send-time policies as pure functions: quiet hours, holidays, caps, what follows a failure.

The dispatcher asks these with plain values (the customer's zone, the times of recent
sends, ``now``); none of them reads the database or the clock. A policy never drops a
message on its own: it answers "not before T", and the dispatcher defers to T.
:func:`after_failure` is the one failure policy of every outbox row.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from notifier.config_types import TimeWindow
from notifier.errors import DeliveryError, Suppress
from notifier.pacing import backoff
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


RetryChoice = Literal["resend", "hold"]


@dataclass(frozen=True)
class RetryPolicy:
    """How every outbox row is retried: messages, support emails, webhooks, shop calls."""

    max_attempts: int = 6
    backoff_base_s: float = 30.0
    backoff_max_s: float = 3600.0
    on_unknown: RetryChoice = "hold"


@dataclass(frozen=True)
class Retry:
    """Try the same channel again at ``at``."""

    at: datetime
    reason: str


@dataclass(frozen=True)
class FallBack:
    """The channel failed for good: go on with ``channel``, now; maybe suppress the address."""

    channel: str
    reason: str
    suppress: Suppress | None = None


@dataclass(frozen=True)
class Fail:
    """Nothing more to try: the row ends ``failed``; maybe suppress the address."""

    reason: str
    suppress: Suppress | None = None


@dataclass(frozen=True)
class Hold:
    """The outcome is unknown and the policy says not to resend: the row ends ``held``."""

    reason: str


def after_failure(attempts: int, error: DeliveryError, channels_left: Sequence[str],
                  now: datetime, *, policy: RetryPolicy, idempotent: bool = False,
                  rng: random.Random | None = None) -> Retry | FallBack | Fail | Hold:
    """What follows the ``attempts``-th failed attempt (this one included) of a row.

    An unknown outcome is held under ``on_unknown = "hold"`` unless the channel is
    ``idempotent`` (its receiver drops a second copy), else it is retried like a transient
    error. A permanent error falls back to the next channel left, or fails; a transient one
    retries with :func:`~notifier.pacing.backoff` (``Retry-After`` a floor) until
    ``max_attempts``.
    """
    text = f"{error.code or 'error'}: {error.reason}"
    if error.unknown and policy.on_unknown == "hold" and not idempotent:
        return Hold(f"unknown outcome, held (on_unknown = hold, not resent): {text}")
    if error.permanent:
        if channels_left:
            return FallBack(channels_left[0], f"failed permanently ({text}); falling back",
                            error.suppress)
        return Fail(f"permanent failure: {text}", error.suppress)
    if attempts >= policy.max_attempts:
        return Fail(f"gave up after {attempts} attempts; last: {text}")
    wait = backoff(attempts, base_s=policy.backoff_base_s, max_s=policy.backoff_max_s,
                   retry_after=error.retry_after, rng=rng)
    at = now + timedelta(seconds=wait)
    return Retry(at, f"retry {attempts + 1} at {at.isoformat()} after {text}")
