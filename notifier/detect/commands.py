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
from typing import Annotated, Protocol

import typer

from notifier.config import Settings
from notifier.detect.rules import TemplateExists, check_rules
from notifier.errors import NotifierError

TemplateLookup = Callable[[Settings], TemplateExists | None]


class StoredRules(Protocol):
    """The stored (database) rules, supplied by the authoring layer (detect does not
    import it): the published set, or it with a draft or version id in place."""

    def check(self, settings: Settings, kind: str, *, draft: str | None = None,
              version: int | None = None) -> tuple[list[str], str]: ...


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
    get_settings: Callable[[], Settings], *, template_lookup: TemplateLookup | None = None,
    stored: StoredRules | None = None,
) -> typer.Typer:
    """The ``rules`` command group; ``get_settings`` is called only when a command needs it;
    ``stored`` serves ``check --published``, ``--draft NAME`` and ``--version ID``."""
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
        published: Annotated[bool, typer.Option(
            "--published", help="the published set in the database")] = False,
        draft: Annotated[str | None, typer.Option(
            "--draft", metavar="NAME",
            help="the newest stored version of NAME in place of the published one")] = None,
        version: Annotated[int | None, typer.Option(
            "--version", metavar="ID", help="stored version ID in place of its published one")
        ] = None,
    ) -> None:
        """Validate rule files; print each problem as file:line: reason and exit 1 if any.

        Without an option: the files (PATH or paths.rules_dir). With one: the stored set,
        checked as publishing would (against the published templates)."""
        if published or draft is not None or version is not None:
            if stored is None:
                typer.echo("--published, --draft and --version need the database", err=True)
                raise typer.Exit(2)
            try:
                found, what = stored.check(get_settings(), "rule", draft=draft, version=version)
            except NotifierError as exc:
                typer.echo(str(exc), err=True)
                raise typer.Exit(1) from exc
            for problem in found:
                typer.echo(problem)
            if found:
                typer.echo(f"{len(found)} problem(s) in {what}", err=True)
                raise typer.Exit(1)
            typer.echo(f"{what}: rules OK")
            return
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
