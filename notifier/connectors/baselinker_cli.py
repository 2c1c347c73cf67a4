"""``notifier baselinker ...``: first import, one poll by hand, and the connector's health.

    notifier baselinker sync --since 2026-11-01     # orders confirmed since then, with parcels
    notifier baselinker poll                        # what the scheduler does every interval
    notifier baselinker status                      # health as JSON (as in /healthz)

The CLI mounts it with ``app.add_typer(build_baselinker_cli(get_settings), name="baselinker")``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from notifier.config import Settings
from notifier.connectors.baselinker_poller import (
    BaseLinkerPoller,
    PollResult,
    build_baselinker_poller,
)
from notifier.connectors.errors import ConnectorError
from notifier.runtime import Runtime, create_runtime


def parse_since(value: str, *, timezone: str) -> datetime:
    """``2026-11-01`` (midnight in the shop's timezone) or an ISO moment with an offset."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter("use YYYY-MM-DD or an ISO-8601 moment") from exc
    if len(value) == 10:
        return datetime.combine(moment.date(), time(), ZoneInfo(timezone))
    if moment.tzinfo is None:
        raise typer.BadParameter("a moment needs a timezone offset, e.g. 2026-11-01T00:00+01:00")
    return moment


def _summary(result: PollResult) -> str:
    parts = [f"{result.outcome}: position {result.position}", f"events {result.events}",
             f"orders {result.orders}", f"parcels {result.shipments}",
             f"stale {result.stale}", f"rejected {len(result.rejected)}",
             f"requests {result.requests}"]
    if result.gap:
        parts.append(f"re-sync started ({result.gap})")
    if result.resynced_orders:
        parts.append(f"re-synced orders {result.resynced_orders}")
    if result.resync_pending:
        parts.append("re-sync continues next poll")
    if result.tracking_refreshed:
        parts.append(f"tracking refreshed {result.tracking_refreshed}")
    return "  ".join(parts)


def build_baselinker_cli(get_settings: Callable[[], Settings]) -> typer.Typer:
    """The ``baselinker`` sub-app; settings are loaded only when a command runs."""
    app = typer.Typer(help="BaseLinker connector: import, poll, health.", no_args_is_help=True)

    def runtime() -> Runtime:
        settings = get_settings()
        if not settings.baselinker.token.get_secret_value():
            typer.secho("[baselinker] token is not set", fg="red", err=True)
            raise typer.Exit(2)
        return create_runtime(settings)

    def run(step: Callable[[BaseLinkerPoller], Awaitable[PollResult]]) -> PollResult:
        rt = runtime()
        poller = build_baselinker_poller(rt)

        async def go() -> PollResult:
            try:
                return await step(poller)
            finally:
                await poller.aclose()

        try:
            return asyncio.run(go())
        finally:
            rt.close()

    @app.command()
    def sync(
        since: Annotated[str, typer.Option(help="YYYY-MM-DD or ISO moment: orders confirmed "
                                                "from then on")],
    ) -> None:
        """Import orders confirmed since --since, with their parcels and courier history."""
        from tqdm import tqdm

        start = parse_since(since, timezone=get_settings().shop.timezone)
        with tqdm(unit="order", desc="baselinker") as bar:
            try:
                result = run(lambda p: p.sync(start, datetime.now(UTC), progress=bar.update))
            except ConnectorError as exc:
                typer.secho(f"sync failed: {exc}", fg="red", err=True)
                raise typer.Exit(1) from exc
        typer.echo(_summary(result))
        for reason in result.rejected:
            typer.echo(f"  rejected {reason}")

    @app.command()
    def poll() -> None:
        """Poll once now: journal, re-sync step, tracking refresh."""
        result = run(lambda p: p.poll(datetime.now(UTC)))
        typer.echo(_summary(result))
        for reason in result.rejected:
            typer.echo(f"  rejected {reason}")
        if result.outcome == "failed":
            typer.secho(f"poll failed: {result.error}", fg="red", err=True)
            raise typer.Exit(1)

    @app.command()
    def status() -> None:
        """The connector's health and position, as JSON."""
        rt = create_runtime(get_settings())
        try:
            poller = build_baselinker_poller(rt)
            with rt.sessions() as session:
                typer.echo(json.dumps(poller.health(session), indent=2))
            asyncio.run(poller.aclose())
        finally:
            rt.close()

    return app
