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


def current_context() -> typer.Context | None:
    """The context of the command being run, or None outside one.

    Typer has no public accessor: from 0.2x it vendors click (``typer._click``), before
    that the context stack is click's own.
    """
    try:
        from typer._click.globals import get_current_context
    except ImportError:  # typer < 0.2x runs on click itself
        from click import get_current_context  # type: ignore[no-redef]
    return get_current_context(silent=True)  # type: ignore[return-value]
