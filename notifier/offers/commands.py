"""``notifier offers ...``: code pools and budgets from the command line.

    notifier offers import-codes codes.csv --policy delay-compensation
    notifier offers status

The CLI wires it with ``app.add_typer(build_offers_cli(get_settings), name="offers")``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from notifier.cli_options import parse_now
from notifier.config import Settings
from notifier.offers import guards, pool
from notifier.offers.policies import load_policies
from notifier.runtime import Runtime, create_runtime
from notifier.store.db import transaction


def build_offers_cli(get_settings: Callable[[], Settings]) -> typer.Typer:
    """The ``offers`` sub-app; settings are loaded only when a command runs."""
    app = typer.Typer(help="Compensation offers: code pools, budgets, shop sync.",
                      no_args_is_help=True)

    def runtime() -> Runtime:
        return create_runtime(get_settings())

    @app.command("import-codes")
    def import_codes_command(
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV file")],
        policy: Annotated[str | None, typer.Option(help="the policy whose pool gets them")] = None,
    ) -> None:
        """Add codes made in the shop to a policy's pool (one per line, or a `code` column)."""
        rt = runtime()
        known = set(load_policies(rt.settings.offers))
        if policy is not None and policy not in known:
            typer.secho(f"unknown policy {policy!r}; known: {', '.join(sorted(known))}",
                        fg="red", err=True)
            raise typer.Exit(2)
        with file.open(encoding="utf-8-sig", newline="") as lines, \
                transaction(rt.sessions) as session:
            summary = pool.import_codes(session, lines, default_pool=policy, known_pools=known,
                                        now=rt.clock())
        rt.close()
        typer.echo(f"imported: {summary.imported}  already known: {summary.duplicates}  "
                   f"rejected: {len(summary.problems)}")
        for number, reason in summary.problems:
            typer.echo(f"  line {number}: {reason}")
        if summary.problems:
            raise typer.Exit(1)

    @app.command("status")
    def status_command(
        now: Annotated[str | None, typer.Option(help="now, +2d or ISO-8601; default: now")] = None,
    ) -> None:
        """Each policy's budget this month and each pool's free codes."""
        rt = runtime()
        moment = parse_now(now)
        month = moment.astimezone(ZoneInfo(rt.settings.shop.timezone)).strftime("%Y-%m")
        currency = rt.settings.shop.currency
        with rt.sessions() as session:
            levels = pool.levels(session)
            for name, policy in sorted(load_policies(rt.settings.offers).items()):
                cost, count = guards.spent(session, policy=name, month=month)
                cap = f"{policy.monthly_budget} {currency}" if policy.monthly_budget is not None \
                    else "no cap"
                line = f"{name:<24} {month}: {count} offer(s), {cost} {currency} of {cap}"
                if policy.codes == "pool":
                    free, used = levels.get(name, (0, 0))
                    line += f"; pool {free} free, {used} used"
                typer.echo(line)
        rt.close()

    return app
