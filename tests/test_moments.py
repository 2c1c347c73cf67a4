"""`--now`: relative moments (+2d, +36h, +90m, now), ISO moments, and refusals naming the
accepted forms; and why the README tour's `--now +7d` is past the promise on any day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notifier.cli import app
from notifier.config import ServiceLevel, Settings
from notifier.config_types import MOMENT_FORMS, parse_moment
from notifier.detect.rules import load_rules
from notifier.ingest.promises import promise
from tests.conftest import REPO

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        (" NOW ", NOW),
        ("+2d", NOW + timedelta(days=2)),
        ("+36h", NOW + timedelta(hours=36)),
        ("+90m", NOW + timedelta(minutes=90)),
        ("+1d12h", NOW + timedelta(days=1, hours=12)),
        ("-30m", NOW - timedelta(minutes=30)),
        ("2026-12-03T10:00:00+01:00", datetime(2026, 12, 3, 9, 0, tzinfo=UTC)),
    ],
)
def test_accepted_moments(text: str, expected: datetime) -> None:
    assert parse_moment(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["tomorrowish", "+", "+2w", "2d", "+2 d", "",
                                  "2026-12-03T10:00:00"])
def test_refused_moments_name_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_moment(text, now=NOW)
    assert MOMENT_FORMS in str(caught.value)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "notifier.db"}"\n'
        f'[paths]\ndata_dir = "{tmp_path / "var"}"\nrules_dir = "{REPO / "rules"}"\n'
        f'templates_dir = "{REPO / "templates"}"\n', encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["--config", str(path), "db", "upgrade"]).exit_code == 0
    return path


@pytest.mark.parametrize("moment", ["+2d", "now", "+36h", "2026-12-03T10:00:00+01:00"])
def test_tick_takes_relative_and_absolute_moments(config: Path, moment: str) -> None:
    result = CliRunner().invoke(app, ["--config", str(config), "tick", "--now", moment])
    assert result.exit_code == 0, result.output


def test_tick_refuses_an_unknown_moment_naming_the_forms(config: Path) -> None:
    result = CliRunner().invoke(app, ["--config", str(config), "tick", "--now", "tomorrowish"])
    assert result.exit_code != 0
    output = " ".join(result.output.split())  # the error box wraps lines
    assert "'tomorrowish' is not a moment" in output
    for form in ("now", "+2d", "+36h", "+90m", "ISO-8601"):
        assert form in output


def test_a_week_on_is_past_the_default_promise_whatever_the_day() -> None:
    """The README tour places an order now and ticks `--now +7d`: for an order placed at
    any hour of any day of two years (weekends, Christmas, Easter, 11 November included),
    the shipped order-unshipped rule is due by then."""
    settings = Settings()
    rule = load_rules(REPO / "rules").get("order-unshipped")
    assert rule is not None
    grace = rule.params.grace  # type: ignore[attr-defined]
    day = date(2026, 1, 1)
    while day < date(2028, 1, 1):
        for hour in (0, 9, 17, 23):
            placed = datetime(day.year, day.month, day.day, hour, 30, tzinfo=UTC)
            ship_by, _ = promise(placed, ServiceLevel(), country=settings.shop.country,
                                 timezone=settings.shop.timezone)
            assert ship_by + grace + rule.steps[0].delay <= placed + timedelta(days=7), placed
        day += timedelta(days=1)
