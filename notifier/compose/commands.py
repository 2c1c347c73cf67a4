"""``notifier templates ...``: check and preview templates from the command line.

    notifier templates check
    notifier templates preview shipment_late --channel sms --locale pl
    notifier templates preview cart_reminder --channel email --sample anna.toml --out var/p

The CLI wires this sub-app with ``app.add_typer(build_templates_cli(get_settings),
name="templates")``; a ``--customer ID`` variant builds the RenderContext from the
database and calls :func:`show_preview` with it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Protocol

import typer

from notifier.compose.composer import Composer
from notifier.compose.context import RenderContext
from notifier.compose.layout import messages
from notifier.compose.recipients import RecipientError
from notifier.compose.samples import load_sample_file, sample_context
from notifier.compose.tooling import check_templates, preview
from notifier.config import Settings
from notifier.domain import Channel
from notifier.errors import NotifierError, TemplateError, VersionError


def show_preview(
    composer: Composer,
    message_name: str,
    channel: Channel,
    ctx: RenderContext,
    *,
    out_dir: Path | None,
    locale: str | None = None,
    transliterate: bool = False,
) -> None:
    """Render and print one preview; exit 1 with ``file:line: reason`` when it fails."""
    try:
        result = preview(
            composer,
            message_name,
            channel,
            ctx,
            out_dir=out_dir,
            locale=locale,
            transliterate=transliterate,
        )
    except (TemplateError, RecipientError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(result.summary())


CustomerContext = Callable[[Settings, int, str], RenderContext | None]


class StoredTemplates(Protocol):
    """The stored (database) templates, supplied by the authoring layer: compose never
    reads the database. ``draft``: the newest version of that name in place of the
    published one; ``version``: that version id in place."""

    def check(self, settings: Settings, kind: str, *, draft: str | None = None,
              version: int | None = None) -> tuple[list[str], str]: ...

    def composer(self, settings: Settings, *, draft: str | None = None,
                 version: int | None = None) -> AbstractContextManager[Composer]: ...


_PUBLISHED = typer.Option(False, "--published", help="the published set in the database")
_DRAFT = typer.Option(None, "--draft", metavar="NAME",
                      help="the newest stored version of NAME in place of the published one")
_VERSION = typer.Option(None, "--version", metavar="ID",
                        help="stored version ID in place of its published one")


def build_templates_cli(
    get_settings: Callable[[], Settings], *, customer_context: CustomerContext | None = None,
    stored: StoredTemplates | None = None,
) -> typer.Typer:
    """The ``templates`` sub-app; settings are loaded only when a command runs.

    ``customer_context(settings, customer_id, message_name)`` builds a preview context
    from a stored customer (the engine supplies it; compose never reads the database);
    ``stored`` serves ``--published``, ``--draft`` and ``--version``.
    """

    def wants_stored(published: bool, draft: str | None, version: int | None) -> bool:
        chosen = published or draft is not None or version is not None
        if chosen and stored is None:
            typer.echo("--published, --draft and --version need the database", err=True)
            raise typer.Exit(2)
        return chosen

    app = typer.Typer(help="Check and preview message templates.", no_args_is_help=True)

    @app.command("check")
    def check(
        sms_max_segments: int | None = typer.Option(
            None, help="refuse SMS longer than this (default: [delivery] sms_max_segments)"
        ),
        published: bool = _PUBLISHED,
        draft: str | None = _DRAFT,
        version: int | None = _VERSION,
    ) -> None:
        """Render every template with sample data; exit 1 if anything is wrong.

        Without an option: the files in paths.templates_dir (the shipped defaults or a
        set to import). A draft is checked as publishing it would be."""
        settings = get_settings()
        if wants_stored(published, draft, version):
            assert stored is not None
            if sms_max_segments:
                delivery = settings.delivery.model_copy(
                    update={"sms_max_segments": sms_max_segments})
                settings = settings.model_copy(update={"delivery": delivery})
            try:
                found, what = stored.check(settings, "template", draft=draft, version=version)
            except NotifierError as exc:
                typer.echo(str(exc), err=True)
                raise typer.Exit(1) from exc
            for problem in found:
                typer.echo(problem, err=True)
            if found:
                typer.echo(f"{len(found)} problem(s) in {what}", err=True)
                raise typer.Exit(1)
            typer.echo(f"{what}: all templates render")
            return
        root = settings.paths.templates_dir
        problems = check_templates(
            root,
            settings.shop,
            sms_max_segments=sms_max_segments or settings.delivery.sms_max_segments,
            from_addr=settings.email.from_,
        )
        for problem in problems:
            typer.echo(problem, err=True)
        if problems:
            typer.echo(f"{len(problems)} problem(s) in {root}", err=True)
            raise typer.Exit(1)
        typer.echo(f"{len(messages(root))} messages in {root}: all templates render")

    @app.command("preview")
    def preview_command(
        name: str = typer.Argument(..., help="message name, e.g. shipment_late"),
        channel: Channel = typer.Option(Channel.EMAIL, help="email, sms or push"),
        locale: str = typer.Option("pl", help="customer locale, e.g. pl, en_GB"),
        sample: Path | None = typer.Option(None, help="JSON/TOML file overriding sample data"),
        customer: int | None = typer.Option(None, help="preview as this stored customer (id)"),
        out: Path | None = typer.Option(None, help="output dir (default <data_dir>/preview)"),
        transliterate: bool = typer.Option(False, help="SMS: replace ą→a, ł→l to stay GSM-7"),
        sms_max_segments: int | None = typer.Option(
            None, help="default: [delivery] sms_max_segments"
        ),
        published: bool = _PUBLISHED,
        draft: str | None = _DRAFT,
        version: int | None = _VERSION,
    ) -> None:
        """Render one message with sample data; write .eml/.html and print the text.

        Without an option: the files in paths.templates_dir."""
        settings = get_settings()
        source: AbstractContextManager[Composer] = nullcontext(
            Composer.from_settings(settings, sms_max_segments=sms_max_segments))
        if wants_stored(published, draft, version):
            assert stored is not None
            source = stored.composer(settings, draft=draft, version=version)
        try:
            if customer is not None:
                if customer_context is None:
                    raise TemplateError("--customer needs the database; not available here")
                found = customer_context(settings, customer, name)
                if found is None:
                    raise TemplateError(f"no customer with id {customer}")
                ctx = found
            else:
                overrides = load_sample_file(sample) if sample else None
                ctx = sample_context(name, locale, settings.shop, overrides=overrides)
        except TemplateError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc
        try:
            with source as composer:
                if sms_max_segments:
                    composer.sms_max_segments = sms_max_segments
                show_preview(
                    composer,
                    name,
                    channel,
                    ctx,
                    out_dir=out or settings.paths.data_dir / "preview",
                    transliterate=transliterate,
                )
        except VersionError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc

    return app
