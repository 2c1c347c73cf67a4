"""The ``notifier`` command. Each subcommand builds what it needs from the settings."""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from notifier.cli_options import current_context, parse_now
from notifier.config import Settings, load_settings
from notifier.errors import ConfigError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Proactive customer notifications for e-commerce.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
push_app = typer.Typer(no_args_is_help=True, help="Push notification set-up.")
app.add_typer(push_app, name="push")
notifications_app = typer.Typer(no_args_is_help=True, help="Inspect notifications.")
app.add_typer(notifications_app, name="notifications")


@dataclass
class Invocation:
    """What one ``notifier`` invocation was given; kept on the root click context."""

    config: Path | None = None
    settings: Settings | None = None


def get_settings() -> Settings:
    """The settings for this invocation, loaded once; a bad one exits 2 naming the key."""
    context = current_context()
    root = context.find_root() if context is not None else None
    invocation = root.obj if root is not None and isinstance(root.obj, Invocation) else None
    if invocation is None:  # called outside a command (tests building a sub-CLI)
        invocation = Invocation()
        if root is not None:
            root.obj = invocation
    if invocation.settings is None:
        try:
            invocation.settings = load_settings(invocation.config)
        except ConfigError as exc:
            typer.secho(str(exc), fg="red", err=True)
            raise typer.Exit(2) from exc
    return invocation.settings


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="config.toml path")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    ctx.find_root().obj = Invocation(config=config)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        # A line per job run every few seconds drowns what the engine itself reports.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest version (safe to run again)."""
    from notifier.store.db import create_db_engine
    from notifier.store.migrate import upgrade

    settings = get_settings()
    engine = create_db_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    typer.echo(f"database at head: {engine.url.render_as_string(hide_password=True)}")


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines file")],
    source: Annotated[str, typer.Option(help="source name the records belong to")] = "import",
) -> None:
    """Backfill customers, orders, shipments and carts from a JSONL file."""
    from tqdm import tqdm

    from notifier.ingest.bulk import import_lines
    from notifier.runtime import create_runtime

    settings = get_settings()
    runtime = create_runtime(settings)
    total = sum(1 for line in file.open(encoding="utf-8") if line.strip())
    with file.open(encoding="utf-8") as lines, tqdm(total=total, unit="rec") as bar:
        summary = import_lines(lines, factory=runtime.sessions, settings=settings,
                               now=runtime.clock(), source=source, progress=bar.update)
    typer.echo(f"accepted: {summary.accepted}  stale: {summary.stale}  "
               f"rejected: {len(summary.rejected)}")
    for number, reason in summary.rejected:
        typer.echo(f"  line {number}: {reason}")
    runtime.close()
    if summary.rejected:
        raise typer.Exit(1)


@app.command()
def tick(
    now: Annotated[str | None, typer.Option(
        help="now, +2d, +36h, +90m (from the present) or an ISO-8601 moment with offset; "
             "default: the present")] = None,
) -> None:
    """Run one detection-and-dispatch pass as of --now (operations, demos, tests)."""
    import asyncio

    from notifier.clock import FrozenClock
    from notifier.pipeline import build_engine
    from notifier.runtime import create_runtime

    moment = parse_now(now)
    runtime = create_runtime(get_settings(), clock=FrozenClock(moment))
    engine = _engine_or_exit(build_engine, runtime)

    async def once() -> None:
        try:
            result = await engine.run_due(moment)
        finally:
            await engine.aclose()
        created = dict(result.scan.created) or {}
        typer.echo(f"tick at {moment.isoformat()}: scanned {result.scan.rows} rows, "
                   f"created {created}, dispatched {dict(result.dispatched)}")

    asyncio.run(once())
    runtime.close()


def _engine_or_exit(build, runtime):  # type: ignore[no-untyped-def]
    from notifier.errors import RuleError

    try:
        return build(runtime)
    except RuleError as exc:
        typer.secho("rules refused:", fg="red", err=True)
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(2) from exc
    except ConfigError as exc:  # a channel's provider settings, checked when it is built
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc


@app.command()
def worker() -> None:
    """Scheduler and dispatcher without HTTP: run several against one PostgreSQL."""
    import asyncio
    import signal

    from notifier.pipeline import build_engine
    from notifier.runtime import create_runtime
    from notifier.scheduler import create_scheduler

    runtime = create_runtime(get_settings())
    engine = _engine_or_exit(build_engine, runtime)
    # As api and serve: a full collection mid-dispatch walked all of start-up (templates,
    # CLDR data, the dictionary), a 0.1-0.5 s stop of every send in bench/dispatch.py, and
    # 85 ms in a detection tick of 10k due rows.
    _freeze_start_up()

    async def main_loop() -> None:
        scheduler = create_scheduler(engine)
        scheduler.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, engine.reload)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        scheduler.shutdown(wait=False)
        await engine.aclose()

    asyncio.run(main_loop())
    runtime.close()


@app.command()
def api(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Serve the HTTP API alone (no scheduler): scale it out behind a load balancer."""
    _serve(host, port, with_engine=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """HTTP API, scheduler and dispatcher in one process: the embedded default."""
    _serve(host, port, with_engine=True)


def _serve(host: str | None, port: int | None, *, with_engine: bool) -> None:
    import uvicorn

    from notifier.app import create_app
    from notifier.pipeline import build_engine
    from notifier.runtime import create_runtime

    settings = get_settings()
    runtime = create_runtime(settings)
    engine = _engine_or_exit(build_engine, runtime) if with_engine else None
    application = create_app(runtime, engine=engine)
    _freeze_start_up()
    # --port 0 asks the system for a free port (uvicorn logs the one it got).
    uvicorn.run(application, host=host or settings.server.host,
                port=settings.server.port if port is None else port, log_level="info")


def _freeze_start_up() -> None:
    """Keep what start-up built (modules, the app, SQLAlchemy and pydantic schemas) out of
    the cyclic collector's walks: a full collection visited all of it, a pause of 100-200
    ms in the middle of serving (the p99 of ingest), 85 ms in a detection tick of 10k due
    rows; now it walks what was made since.
    A young collection every 10,000 allocations instead of 700: the requests in flight
    were walked and promoted again and again (server CPU per webhook -7%, RSS the same)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


@push_app.command("vapid-keys")
def vapid_keys() -> None:
    """Generate a VAPID key pair for Web Push; paste it into [push.webpush]."""
    from notifier.deliver.vapid import generate_vapid_keys

    keys = generate_vapid_keys()
    typer.echo("[push.webpush]")
    typer.echo(f'vapid_private_key = "{keys.private_key}"')
    typer.echo(f'vapid_public_key = "{keys.public_key}"')
    typer.echo("# the public key is the applicationServerKey your site subscribes with")


@notifications_app.command("list")
def notifications_list(
    status: Annotated[str | None, typer.Option(help="e.g. failed, skipped, pending")] = None,
    rule: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    kind: Annotated[str | None, typer.Option(
        help="message, support (escalation emails), webhook, shopify; default: all")] = None,
) -> None:
    """List outbox rows (customer messages, support emails, webhooks, shop calls), newest
    first, with their reason."""
    from notifier.runtime import create_runtime
    from notifier.track.explain import list_notifications

    runtime = create_runtime(get_settings())
    with runtime.sessions() as session:
        for row in list_notifications(session, status=status, rule=rule, limit=limit,
                                      kind=kind):
            what = (f"{row.rule}#{row.step}" if row.kind == "message"
                    else f"{row.kind}:{row.template}")
            typer.echo(f"{row.id:>6}  {row.status:<10} {what} "
                       f"{row.entity_kind}:{row.entity_id}  {row.channel or '-':<5} "
                       f"{row.reason or ''}")
    runtime.close()


@notifications_app.command("why")
def notifications_why(notification_id: int) -> None:
    """Why a notification was (not) sent: its state, reason and every attempt."""
    from notifier.runtime import create_runtime
    from notifier.track.explain import explain

    runtime = create_runtime(get_settings())
    with runtime.sessions() as session:
        text = explain(session, notification_id)
    runtime.close()
    if text is None:
        typer.secho(f"no notification {notification_id}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(text)


def _mount_groups() -> None:
    from notifier.compose.commands import build_templates_cli
    from notifier.detect.commands import build_rules_cli
    from notifier.detect.simulate import add_simulate_command

    def template_lookup(settings: Settings):  # type: ignore[no-untyped-def]
        # The same lookup the engine uses, so `rules check` and start-up agree.
        from notifier.pipeline import template_lookup as engine_lookup

        return engine_lookup(settings)

    from notifier.authoring.commands import StoredSets, add_version_commands

    stored = StoredSets()
    rules_cli = build_rules_cli(get_settings, template_lookup=template_lookup, stored=stored)
    # The rules as the engine runs them: the published set (refused whole if broken).
    add_simulate_command(rules_cli, get_settings, rules_for=stored.rules)
    add_version_commands(rules_cli, "rule", get_settings)
    app.add_typer(rules_cli, name="rules")
    templates_cli = build_templates_cli(get_settings, customer_context=_customer_context,
                                        stored=stored)
    add_version_commands(templates_cli, "template", get_settings)
    app.add_typer(templates_cli, name="templates")
    from notifier.connectors.baselinker_cli import build_baselinker_cli
    from notifier.offers.commands import build_offers_cli

    app.add_typer(build_offers_cli(get_settings), name="offers")
    app.add_typer(build_baselinker_cli(get_settings), name="baselinker")
    from notifier.ingest.consent_cli import build_consents_cli

    app.add_typer(build_consents_cli(get_settings), name="consents")
    from notifier.reports.commands import add_report_command

    add_report_command(app, get_settings)
    from notifier.ingest.push_cli import add_push_commands

    add_push_commands(push_app, get_settings)
    from notifier.transit.commands import build_carriers_cli

    app.add_typer(build_carriers_cli(get_settings), name="carriers")
    from notifier.console.commands import build_users_cli

    app.add_typer(build_users_cli(get_settings), name="users")
    from notifier.privacy.commands import build_customers_cli

    app.add_typer(build_customers_cli(get_settings), name="customers")


def _customer_context(settings: Settings, customer_id: int, message_name: str):  # type: ignore[no-untyped-def]
    from notifier.authoring import rules_for
    from notifier.detect.rules import load_rules
    from notifier.domain import Purpose
    from notifier.errors import RuleError
    from notifier.previews import customer_context
    from notifier.runtime import create_runtime

    runtime = create_runtime(settings)
    try:
        with runtime.sessions() as session:
            # The purpose (and so the unsubscribe link) is the one of the published rule
            # sending it.
            purpose = Purpose.TRANSACTIONAL
            try:
                rules = rules_for(session, settings, check_templates=False)
                if not len(rules):  # nothing stored yet: the shipped files
                    rules = load_rules(settings.paths.rules_dir)
            except RuleError:
                rules = None
            for rule in rules or ():
                if any(step.template == message_name for step in rule.steps):
                    purpose = rule.purpose
            return customer_context(session, settings, customer_id, purpose=purpose)
    finally:
        runtime.close()


_mount_groups()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
