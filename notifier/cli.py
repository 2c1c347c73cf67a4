"""The ``notifier`` command. Each subcommand builds what it needs from the settings."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from notifier.config import Settings, load_settings
from notifier.errors import ConfigError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Proactive customer notifications for e-commerce.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")


class _State:
    config: Path | None = None
    settings: Settings | None = None


_state = _State()


def get_settings() -> Settings:
    """The settings for this invocation, loaded once."""
    if _state.settings is None:
        try:
            _state.settings = load_settings(_state.config)
        except ConfigError as exc:
            typer.secho(str(exc), fg="red", err=True)
            raise typer.Exit(2) from exc
    return _state.settings


@app.callback()
def main_options(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="config.toml path")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    _state.config = config
    _state.settings = None
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def parse_now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise typer.BadParameter("--now needs a timezone offset, e.g. 2026-12-01T09:00:00+01:00")
    return moment


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
    from notifier.runtime import create_runtime

    settings = get_settings()
    runtime = create_runtime(settings)
    application = create_app(runtime)
    uvicorn.run(application, host=host or settings.server.host,
                port=port or settings.server.port, log_level="info")


def main() -> None:
    app()
