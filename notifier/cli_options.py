"""Option parsing shared by every ``notifier`` subcommand."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from notifier.config_types import parse_moment


def parse_now(value: str | None, *, present: datetime | None = None) -> datetime:
    """``--now``: ``now``, a moment relative to the present (``+2d``, ``+36h``, ``+90m``)
    or an ISO-8601 moment with its offset; empty means the present. Anything else stops
    the command (exit 2) naming the accepted forms."""
    present = present or datetime.now(UTC)
    if not value:
        return present
    try:
        return parse_moment(value, now=present)
    except ValueError as exc:
        raise typer.BadParameter(f"--now: {exc}") from exc


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
