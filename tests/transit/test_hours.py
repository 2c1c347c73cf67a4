"""Business hours skip weekends and Polish public holidays."""

from __future__ import annotations

from datetime import datetime

import pytest

from notifier.transit.hours import BusinessClock

from .synthetic import WARSAW

CLOCK = BusinessClock("PL", "Europe/Warsaw")


def at(day: str, hour: int, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=WARSAW)


@pytest.mark.parametrize(("start", "end", "hours"), [
    (at("2026-12-04", 15), at("2026-12-07", 10), 19.0),   # Friday -> Monday
    (at("2026-11-10", 12), at("2026-11-12", 12), 24.0),   # over 11 November (Wednesday)
    (at("2026-12-23", 12), at("2026-12-28", 6), 12 + 6),  # Christmas Eve (from 2025) to Sunday
    (at("2026-12-05", 9), at("2026-12-06", 20), 0.0),     # a weekend
])  # fmt: skip
def test_hours(start: datetime, end: datetime, hours: float) -> None:
    assert CLOCK.hours(start, end) == pytest.approx(hours)
    assert CLOCK.hours(end, start) == pytest.approx(-hours)


def test_add_is_the_inverse_of_hours() -> None:
    start = at("2026-12-04", 15)
    assert CLOCK.add(start, 19.0) == at("2026-12-07", 10)
    assert CLOCK.add(at("2026-12-05", 11), 1.0) == at("2026-12-07", 1)  # from a Saturday
    for hours in (0.0, 5.5, 9.0, 33.0, 100.0):
        assert CLOCK.hours(start, CLOCK.add(start, hours)) == pytest.approx(hours)
