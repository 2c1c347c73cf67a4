"""``notifier report``: what each rule earns, against its holdout.

    notifier report --from 2026-11-01 --to 2026-11-30 --rule cart-abandoned
    notifier report --format json > report.json
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

import typer

from notifier.config import Settings


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def add_report_command(app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    @app.command("report")
    def report(
        start: Annotated[str | None, typer.Option(
            "--from", help="first day (YYYY-MM-DD, shop timezone) or ISO moment; "
                           "default: 30 days before --to")] = None,
        end: Annotated[str | None, typer.Option(
            "--to", help="last day, included (or ISO moment, excluded); default: now")] = None,
        rule: Annotated[str | None, typer.Option(help="only this rule")] = None,
        output: Annotated[Format, typer.Option("--format", help="table, json or csv")] = (
            Format.table),
        target: Annotated[float | None, typer.Option(
            min=0.0001, max=0.9999,
            help="uplift to plan for, a fraction (0.02 = 2 points); default [reports]")] = None,
        now: Annotated[str | None, typer.Option(
            help="ISO-8601 moment the report is made at (verdict dates), default: now")] = None,
    ) -> None:
        """Per-rule and per-step report: customers per arm, outcomes, conversions, revenue,
        offers, costs, net value, uplift with 95% intervals and a verdict."""
        import json

        from notifier.cli_options import parse_now
        from notifier.reports.build import build_report
        from notifier.reports.period import PeriodError, parse_period
        from notifier.reports.render import as_csv, as_table
        from notifier.reports.rules import current_rules
        from notifier.runtime import create_runtime

        settings = get_settings()
        moment = parse_now(now)
        try:
            lower, upper = parse_period(start, end, now=moment, timezone=settings.shop.timezone)
        except PeriodError as exc:
            raise typer.BadParameter(str(exc), param_hint=f"--{exc.field}") from exc
        runtime = create_runtime(settings)
        rules, problem = current_rules(settings, runtime.sessions)
        if problem:
            typer.secho(f"rules not loaded ({problem}); reporting history only", fg="yellow",
                        err=True)
        try:
            with runtime.sessions() as session:
                result = build_report(session, settings=settings, rules=rules, start=lower,
                                      end=upper, now=moment, rule=rule, target=target)
        finally:
            runtime.close()
        if output is Format.json:
            typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        elif output is Format.csv:
            typer.echo(as_csv(result), nl=False)
        else:
            typer.echo(as_table(result))
