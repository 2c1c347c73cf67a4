"""``notifier templates|rules export|import|history|publish|restore`` and the stored sets
behind ``check``, ``preview`` and ``simulate`` with ``--published``, ``--draft NAME`` or
``--version ID``.

    notifier templates export /srv/shop-templates     # the published set, as files
    notifier rules import rules/                      # checked whole; refused if broken
    notifier templates check --draft order_unshipped  # what publishing it would say
    notifier rules simulate --from -30d --to now --draft cart-abandoned
"""


from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from notifier.authoring.checks import check_set
from notifier.authoring.files import Files, Kind
from notifier.authoring.publishing import (
    check_draft,
    composer_for,
    ensure_seeded,
    export_dir,
    import_dir,
    publish,
    restore,
    rules_for,
)
from notifier.authoring.versions import get, history, live_files
from notifier.compose import Composer
from notifier.config import Settings
from notifier.detect.rules import RuleSet
from notifier.errors import VersionError
from notifier.runtime import Runtime, create_runtime
from notifier.store.db import transaction

CLI_AUTHOR = "cli"


class StoredSets:
    """The published set, or it with one stored version in place (``draft``: the newest
    version of that name; ``version``: a version id), for the CLI's tools."""

    def __init__(self, runtime_for: Callable[[Settings], Runtime] = create_runtime) -> None:
        self.runtime_for = runtime_for

    @contextmanager
    def _session(self, settings: Settings):  # type: ignore[no-untyped-def]
        runtime = self.runtime_for(settings)
        try:
            problems = ensure_seeded(runtime.sessions, settings, now=runtime.clock())
            if problems:
                raise VersionError("\n".join(problems))
            with runtime.sessions() as session:
                yield session
        finally:
            runtime.close()

    @staticmethod
    def _chosen(session, kind: Kind, draft: str | None, version: int | None  # type: ignore[no-untyped-def]
                ) -> tuple[str | None, Files | None, str]:
        if version is not None:
            found = get(session, version)
            if found.kind != kind:
                raise VersionError(f"version {version} is a {found.kind}, not a {kind}")
            return found.name, found.files, f"{found.name} version {found.number} ({found.state})"
        if draft is not None:
            versions = history(session, kind, draft)
            if not versions:
                raise VersionError(f"{kind} {draft!r}: no stored version")
            newest = versions[0]
            return draft, newest.files, f"{draft} version {newest.number} ({newest.state})"
        return None, None, "the published set"

    def check(self, settings: Settings, kind: Kind, *, draft: str | None = None,
              version: int | None = None) -> tuple[list[str], str]:
        """(problems, what was checked): a draft gets exactly what publishing it returns."""
        with self._session(settings) as session:
            name, files, what = self._chosen(session, kind, draft, version)
            if name is not None and files is not None:
                return check_draft(session, settings, kind, name, files), what
            templates, rules = live_files(session, "template"), live_files(session, "rule")
            return check_set(settings, templates=templates, rules=rules,
                             render_templates=kind == "template",
                             allow_no_rules=kind == "template"), what

    @contextmanager
    def composer(self, settings: Settings, *, draft: str | None = None,
                 version: int | None = None) -> Iterator[Composer]:
        with self._session(settings) as session:
            name, files, _ = self._chosen(session, "template", draft, version)
            with composer_for(session, settings, name=name, files=files) as composer:
                yield composer

    def rules(self, settings: Settings, *, draft: str | None = None,
              version: int | None = None) -> RuleSet:
        with self._session(settings) as session:
            name, files, _ = self._chosen(session, "rule", draft, version)
            return rules_for(session, settings, name=name, files=files)


def add_version_commands(group: typer.Typer, kind: Kind, get_settings: Callable[[], Settings]
                         ) -> None:
    """``export``, ``import``, ``history``, ``publish``, ``restore`` on the ``templates``
    or ``rules`` group."""
    noun = f"{kind}s"

    def runtime() -> Runtime:
        settings = get_settings()
        built = create_runtime(settings)
        problems = ensure_seeded(built.sessions, settings, now=built.clock())
        if problems:
            built.close()
            _fail(problems, "the shipped defaults could not be stored")
        return built

    @group.command("export")
    def export_command(
        directory: Annotated[Path, typer.Argument(help="a new or empty directory")],
    ) -> None:
        """Write the published set to DIRECTORY, byte for byte (import it back anywhere)."""
        rt = runtime()
        try:
            with rt.sessions() as session:
                count = export_dir(session, kind, directory)
        except VersionError as exc:
            _fail([str(exc)], "nothing exported")
        finally:
            rt.close()
        typer.echo(f"exported {count} files of the published {noun} to {directory}")

    @group.command("import")
    def import_command(
        directory: Annotated[Path, typer.Argument(help=f"a {noun} directory")],
    ) -> None:
        """Make DIRECTORY the published set (checked whole; names it lacks are removed).
        A set with any problem is refused whole and nothing changes."""
        rt = runtime()
        try:
            with transaction(rt.sessions) as session:
                result = import_dir(session, get_settings(), kind, directory,
                                    author=CLI_AUTHOR, now=rt.clock())
        finally:
            rt.close()
        if result.problems:
            _fail(result.problems, f"import refused: nothing published from {directory}")
        typer.echo(f"published {len(result.published)} {noun} "
                   f"({', '.join(result.published) or '-'}), removed {len(result.removed)} "
                   f"({', '.join(result.removed) or '-'}), {result.unchanged} unchanged")

    @group.command("history")
    def history_command(name: Annotated[str, typer.Argument(help=f"the {kind}'s name")]) -> None:
        """Every stored version of NAME, newest first: id, number, state, who, when, note."""
        rt = runtime()
        with rt.sessions() as session:
            versions = history(session, kind, name)
        rt.close()
        if not versions:
            _fail([f"{kind} {name!r}: no stored version"], "")
        for v in versions:
            typer.echo(f"id {v.id:>5}  v{v.number:<4} {v.state:<10} "
                       f"{v.created_at:%Y-%m-%d %H:%M} {v.author or '-'}  {v.note}")

    def act(name: str, version_id: int, action, verb: str, done: str) -> None:  # type: ignore[no-untyped-def]
        rt = runtime()
        try:
            with transaction(rt.sessions) as session:
                problems = action(session, get_settings(), kind, name, version_id,
                                  author=CLI_AUTHOR, now=rt.clock())
        except VersionError as exc:
            problems = [str(exc)]
        finally:
            rt.close()
        if problems:
            _fail(problems, f"{verb} refused")
        typer.echo(f"{name}: {done} version id {version_id}; workers use it at their next tick")

    @group.command("publish")
    def publish_command(name: str, version_id: Annotated[int, typer.Argument(
            help=f"a version id (notifier {noun} history NAME)")]) -> None:
        """Make a stored version live, if it passes the checks (audited)."""
        act(name, version_id, publish, "publish", "published")

    @group.command("restore")
    def restore_command(name: str, version_id: Annotated[int, typer.Argument(
            help=f"an earlier version id (notifier {noun} history NAME)")]) -> None:
        """Publish an earlier version's text again, as a new version (audited)."""
        act(name, version_id, restore, "restore", "restored")


def _fail(problems: list[str], summary: str) -> None:
    for problem in problems:
        typer.echo(problem, err=True)
    if summary:
        typer.echo(summary, err=True)
    raise typer.Exit(1)
