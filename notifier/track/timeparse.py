"""Provider timestamps (ISO-8601 strings or Unix seconds) as aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_instant(value: Any, *, default: datetime) -> datetime:
    """``value`` as UTC; ``default`` when it is missing or not a time (receipts keep the
    moment we received them rather than being refused for a provider's odd clock)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return default
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.replace(".", "", 1).isdigit():
            return parse_instant(float(text), default=default)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return default
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return default


def window_problem(timestamp: str, *, now: datetime, max_age_s: float) -> str | None:
    """Why a signed Unix ``timestamp`` is refused (not a number, outside the window)."""
    try:
        age = now.timestamp() - float(timestamp)
    except ValueError:
        return "timestamp is not a number"
    if abs(age) > max_age_s:
        return f"timestamp {age:.0f} s old, outside the {max_age_s:.0f} s window"
    return None
