from datetime import timedelta

import pytest

from notifier.config_types import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0h", timedelta(0)),
        ("90m", timedelta(minutes=90)),
        ("2h", timedelta(hours=2)),
        ("3d", timedelta(days=3)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1d2h30m", timedelta(days=1, hours=2, minutes=30)),
        (" 2H ", timedelta(hours=2)),
    ],
)
def test_parses(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "2x", "h", "2h1d", "1.5h", "-2h", "2 h", "1w"])
def test_refuses_malformed(text: str) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


@pytest.mark.parametrize("value", [2, 1.5, None, ["2h"]])
def test_refuses_non_strings(value: object) -> None:
    with pytest.raises(ValueError, match="quoted string"):
        parse_duration(value)


@pytest.mark.parametrize("text", ["0m", "90m", "1h30m", "3d", "1d12h", "2d5m"])
def test_format_round_trips(text: str) -> None:
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


def test_format_is_canonical() -> None:
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert format_duration(timedelta(hours=36)) == "1d12h"


# -- time windows and caps ------------------------------------------------------------------

from datetime import time  # noqa: E402

from notifier.config_types import Cap, TimeWindow  # noqa: E402


@pytest.mark.parametrize(("text", "start", "end"), [
    ("21:00-08:00", time(21), time(8)), (" 09:30 - 17:00 ", time(9, 30), time(17)),
    ("00:00-23:59", time(0), time(23, 59)),
])
def test_window_parses(text: str, start: time, end: time) -> None:
    window = TimeWindow.parse(text)
    assert (window.start, window.end) == (start, end)
    assert TimeWindow.parse(str(window)) == window


@pytest.mark.parametrize("text", ["25:00-08:00", "21:00", "21-08", "9:00-17:00", "21:60-08:00",
                                  "21:00-08:00-09:00", "", "night"])
def test_window_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a time window HH:MM-HH:MM"):
        TimeWindow.parse(text)


@pytest.mark.parametrize(("window", "inside", "outside"), [
    ("21:00-08:00", [time(21), time(23, 59), time(0), time(7, 59)], [time(8), time(20, 59)]),
    ("09:00-17:00", [time(9), time(16, 59)], [time(17), time(8, 59), time(23)]),
])
def test_window_contains(window: str, inside: list[time], outside: list[time]) -> None:
    parsed = TimeWindow.parse(window)
    assert all(parsed.contains(t) for t in inside)
    assert not any(parsed.contains(t) for t in outside)


def test_cap_parses_and_refuses() -> None:
    assert Cap.parse("3/1d12h") == Cap(3, timedelta(days=1, hours=12))
    assert str(Cap.parse("1/24h")) == "1/24h" and str(Cap(2, timedelta(days=1))) == "2/1d"
    for bad in ["0/24h", "x/24h", "1/", "1/0h", "24h", "-1/2h"]:
        with pytest.raises(ValueError, match="cap"):
            Cap.parse(bad)
