"""Values operators write as text, parsed once into types: durations, time windows, caps.

They live below every stage (next to :mod:`notifier.config`) so that settings, rules and
policies share one parser and no stage imports another to read a string. Each type is a
pydantic field type: a bad value fails validation with the reason, and the code only
ever sees the parsed value.

    parse_duration("1d12h")          # timedelta(days=1, hours=12)
    TimeWindow.parse("21:00-08:00")  # TimeWindow(start=21:00, end=08:00), wraps midnight
    Cap.parse("1/24h")               # Cap(count=1, window=timedelta(hours=24))
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?")
_EXAMPLES = "use e.g. 90m, 2h, 3d, 1d12h"
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def parse_duration(text: object) -> timedelta:
    """Parse ``"1d12h"`` into a timedelta; raise ``ValueError`` naming the bad value.

    Only days, hours and minutes, largest first, each at most once (``"0h"`` is zero):
    rules act on a tick of seconds to minutes, so seconds would promise a precision the
    engine does not have, and months or years have no fixed length.
    """
    if not isinstance(text, str):
        raise ValueError(f"a duration is a quoted string, not {text!r}; {_EXAMPLES}")
    match = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or match is None:
        raise ValueError(f"bad duration {text!r}; {_EXAMPLES}")
    parts = {unit: int(value) for unit, value in match.groupdict().items() if value}
    return timedelta(days=parts.get("d", 0), hours=parts.get("h", 0), minutes=parts.get("m", 0))


def format_duration(value: timedelta) -> str:
    """The inverse of :func:`parse_duration` (``timedelta(hours=36)`` -> ``"1d12h"``)."""
    if value < timedelta(0):
        return "-" + format_duration(-value)
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n)
    return text or "0m"


def _duration(value: object) -> timedelta:
    # Files give strings; code building settings directly may pass a timedelta.
    return value if isinstance(value, timedelta) else parse_duration(value)


#: A pydantic field type for durations written as strings (``"30d"``).
Duration = Annotated[timedelta, BeforeValidator(_duration),
                     PlainSerializer(format_duration, return_type=str, when_used="json")]


def _optional_duration(value: object) -> timedelta | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    return _duration(value)


#: A duration, or ``"none"`` for no limit (a rule's ``max_delay`` and ``lookback``).
OptionalDuration = Annotated[timedelta | None, BeforeValidator(_optional_duration)]


@dataclass(frozen=True)
class TimeWindow:
    """A daily window of local clock time, ``start`` inclusive, ``end`` exclusive; it
    wraps midnight when ``end`` is not after ``start`` (``21:00-08:00``)."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        start, sep, end = text.strip().partition("-")
        a, b = _CLOCK.fullmatch(start.strip()), _CLOCK.fullmatch(end.strip())
        if not sep or a is None or b is None:
            raise ValueError(f"{text!r} is not a time window HH:MM-HH:MM (e.g. 21:00-08:00)")
        return cls(time(int(a[1]), int(a[2])), time(int(b[1]), int(b[2])))

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _optional(kind: type[Any], shape: str) -> Any:
    """A field type for ``kind`` written as a string (parsed by ``kind.parse``); an empty
    string means "none"."""

    def parse(value: object) -> Any:
        if value is None or isinstance(value, kind):
            return value
        if not isinstance(value, str):
            raise ValueError(f"write it as a quoted string {shape}, not {value!r}")
        return kind.parse(value) if value.strip() else None

    return Annotated[kind | None, BeforeValidator(parse),
                     PlainSerializer(lambda v: str(v) if v else "", return_type=str)]


@dataclass(frozen=True)
class Cap:
    """At most ``count`` events per ``window`` (``"1/24h"``); shown as it was written."""

    count: int
    window: timedelta
    text: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> Cap:
        count, sep, window = text.strip().partition("/")
        if not sep or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(f"{text!r} is not a cap N/duration (e.g. 1/24h)")
        try:
            span = parse_duration(window.strip())
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a cap N/duration (e.g. 1/24h): {exc}") from exc
        if span <= timedelta(0):
            raise ValueError(f"{text!r}: the window of a cap must be longer than zero")
        return cls(int(count), span, text.strip())

    def __str__(self) -> str:
        return self.text or f"{self.count}/{format_duration(self.window)}"


#: ``"21:00-08:00"`` -> :class:`TimeWindow`; an empty string means "no window".
Window = _optional(TimeWindow, "HH:MM-HH:MM (e.g. 21:00-08:00)")

#: ``"1/24h"`` -> :class:`Cap`; an empty string means "no cap".
CapText = _optional(Cap, "N/duration (e.g. 1/24h)")


# --- moments -----------------------------------------------------------------------------

#: The forms :func:`parse_moment` accepts, as an error message names them.
MOMENT_FORMS = ("now; +2d, +36h, +90m or +1d12h (days, hours, minutes from now; - for the "
                "past); or an ISO-8601 moment with its offset, e.g. 2026-12-01T09:00:00+01:00")


def parse_moment(text: str, *, now: datetime) -> datetime:
    """A moment as an operator types it: ``now``, relative to ``now`` (``+2d``, ``-90m``)
    or absolute (ISO 8601 with an offset). ``ValueError`` names the accepted forms.

        parse_moment("+36h", now=t)   # t + timedelta(hours=36)
    """
    value = text.strip()
    if value.lower() == "now":
        return now
    if value[:1] in ("+", "-"):
        try:
            delta = parse_duration(value[1:])
        except ValueError:
            raise ValueError(f"{text!r} is not a moment; use {MOMENT_FORMS}") from None
        return now + delta if value[0] == "+" else now - delta
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not a moment; use {MOMENT_FORMS}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no timezone offset; use {MOMENT_FORMS}")
    return moment


# --- lists written as text ---------------------------------------------------------------


def text_list(value: object) -> object:
    """A list setting given as text (an environment variable) in either form users write:
    a JSON list (``'["k1","k2"]'``, what pydantic-settings documents) or comma-separated
    (``k1,k2``). Anything else (a list from TOML) passes through unchanged.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON list ({exc.msg}); write [\"a\", \"b\"] or a,b") from None
        if not isinstance(parsed, list):
            raise ValueError('not a JSON list; write ["a", "b"] or a,b')
        return parsed
    return [part.strip() for part in text.split(",") if part.strip()]
