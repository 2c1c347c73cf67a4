from datetime import timedelta

import pytest

from notifier.detect.durations import format_duration, parse_duration


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
