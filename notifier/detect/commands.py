"""``notifier rules ...``: the operator's commands for rule files.

:func:`build_rules_cli` returns a Typer group the top-level CLI mounts as ``rules``; more
commands (``simulate``, ``reload``) are added to the same group by whoever owns them:

    rules_cli = build_rules_cli(get_settings)
    rules_cli.command("simulate")(simulate)
    app.add_typer(rules_cli, name="rules")
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from notifier.config import Settings
from notifier.detect.rules import TemplateExists, check_rules

TemplateLookup = Callable[[Settings], TemplateExists | None]


def templates_in(directory: Path) -> TemplateExists | None:
    """A loose template check from the files under ``directory``, or None if it is empty.

    A name exists when a directory or a file (up to its first dot) is called so anywhere
    below, which fits ``shipment_late.html.j2`` as well as ``pl/shipment_late/email.html``.
    Pass a precise lookup from the compose stage to :func:`build_rules_cli` when there is one.
    """
    if not directory.is_dir():
        return None
    names = {p.name.split(".", 1)[0] for p in directory.rglob("*")}
    names.discard("")
    if not names:
        return None
    return names.__contains__


def _default_lookup(settings: Settings) -> TemplateExists | None:
    return templates_in(settings.paths.templates_dir)


def build_rules_cli(
    get_settings: Callable[[], Settings], *, template_lookup: TemplateLookup | None = None
) -> typer.Typer:
    """The ``rules`` command group; ``get_settings`` is called only when a command needs it."""
    lookup = template_lookup or _default_lookup
    app = typer.Typer(name="rules", help="Check and try out detection rules.", no_args_is_help=True)

    @app.callback()
    def rules() -> None:
        """Check and try out detection rules."""
        # A callback keeps this a command group even while it holds a single command.

    @app.command("check")
    def check(
        path: Annotated[
            Path | None,
            typer.Argument(help="A rule file or directory; default: paths.rules_dir."),
        ] = None,
        templates: Annotated[
            bool,
            typer.Option("--templates/--no-templates", help="Check that step templates exist."),
        ] = True,
    ) -> None:
        """Validate rule files; print each problem as file:line: reason and exit 1 if any."""
        exists: TemplateExists | None = None
        if path is None or templates:
            settings = get_settings()
            target = path or settings.paths.rules_dir
            exists = lookup(settings) if templates else None
        else:
            target = path
        problems = check_rules(target, template_exists=exists)
        for problem in problems:
            typer.echo(problem)
        if problems:
            typer.echo(f"{len(problems)} problem(s) in {target}", err=True)
            raise typer.Exit(1)
        checked = "" if exists is not None else " (templates not checked)"
        typer.echo(f"{target}: rules OK{checked}")

    return app
