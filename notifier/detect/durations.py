"""Durations as operators write them in rule files: ``"90m"``, ``"2h"``, ``"3d"``, ``"1d12h"``.

Only days, hours and minutes: rules act on a tick of seconds to minutes, so seconds would
promise a precision the engine does not have, and months or years have no fixed length.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator

_DURATION = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?")
_EXAMPLES = "use e.g. 90m, 2h, 3d, 1d12h"


def parse_duration(text: object) -> timedelta:
    """Parse ``"1d12h"`` into a timedelta; raise ``ValueError`` naming the bad value.

    Units go largest first (d, h, m), each at most once; ``"0h"`` is zero.
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
    # Rule files give strings; code building params directly may pass a timedelta.
    return value if isinstance(value, timedelta) else parse_duration(value)


#: A pydantic field type for durations written as strings in rule files.
Duration = Annotated[timedelta, BeforeValidator(_duration)]
