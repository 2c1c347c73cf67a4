"""Option parsing shared by every ``notifier`` subcommand."""

from __future__ import annotations

from datetime import UTC, datetime

import typer


def parse_now(value: str | None) -> datetime:
    """``--now``: an ISO-8601 moment with its offset; empty means the present."""
    if not value:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"--now: not an ISO-8601 moment: {value!r}") from exc
    if moment.tzinfo is None:
        raise typer.BadParameter("--now needs a timezone offset, e.g. 2026-12-01T09:00:00+01:00")
    return moment
