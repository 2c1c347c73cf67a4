"""``notifier carriers``: the carriers report and an immediate refit of the transit model.

    notifier carriers report [--now ISO] [--threshold 0.6] [--json]
    notifier carriers refit [--now ISO]
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

import typer

from notifier.config import Settings


def build_carriers_cli(get_settings: Callable[[], Settings]) -> typer.Typer:
    cli = typer.Typer(help="Carriers' transit times and the at-risk prediction.",
                      no_args_is_help=True)

    @cli.command("report")
    def report_command(
        now: Annotated[str | None, typer.Option(
            help="ISO-8601 moment the report is made at, default: now")] = None,
        threshold: Annotated[float, typer.Option(
            min=0.01, max=0.99, help="at-risk threshold the backtest uses")] = 0.6,
        as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
    ) -> None:
        """Per carrier and segment: parcels, on-time share, median and p90 transit in
        business hours; the at-risk backtest on the held-out recent period."""
        from notifier.cli_options import parse_now
        from notifier.runtime import create_runtime
        from notifier.transit.report import carriers_report, format_report

        settings = get_settings()
        runtime = create_runtime(settings)
        try:
            report = carriers_report(runtime.sessions, settings, now=parse_now(now),
                                     threshold=threshold)
        finally:
            runtime.close()
        typer.echo(json.dumps(report.as_dict(), indent=2) if as_json
                   else format_report(report))

    @cli.command("refit")
    def refit_command(
        now: Annotated[str | None, typer.Option(
            help="ISO-8601 moment to fit as of, default: now")] = None,
    ) -> None:
        """Fit the transit model now and store it as a new version (workers pick it up)."""
        from notifier.cli_options import parse_now
        from notifier.runtime import create_runtime
        from notifier.transit.service import refit

        settings = get_settings()
        runtime = create_runtime(settings)
        try:
            version = refit(runtime.sessions, settings, now=parse_now(now))
        finally:
            runtime.close()
        if version is None:
            typer.secho("no parcels in the training window: nothing fitted", fg="yellow")
            raise typer.Exit(1)
        typer.echo(f"transit model v{version} stored")

    return cli
