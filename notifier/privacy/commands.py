"""``notifier customers search/export/erase``: the console's customer functions from a
terminal (the same code, so both agree on what "everything about a customer" is)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

import typer

from notifier.config import Settings
from notifier.privacy import ErasureError, erase_customer, export_audited, search
from notifier.runtime import create_runtime
from notifier.store.db import transaction


def build_customers_cli(get_settings: Callable[[], Settings]) -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, help="Customers: search, export, erase.")

    @app.command("search")
    def search_command(query: str) -> None:
        """Customers by e-mail, phone, name or order number."""
        runtime = create_runtime(get_settings())
        with runtime.sessions() as session:
            for c in search(session, query, region=runtime.settings.shop.country):
                name = " ".join(p for p in (c.first_name, c.last_name) if p)
                typer.echo(f"{c.id:>6}  {c.email or '-':<36} {c.phone or '-':<14} {name}")
        runtime.close()

    @app.command("export")
    def export_command(customer_id: int) -> None:
        """Everything stored about the customer, as JSON on standard output."""
        runtime = create_runtime(get_settings())
        with transaction(runtime.sessions) as session:
            data = export_audited(session, customer_id, actor="cli", now=runtime.clock())
        runtime.close()
        if data is None:
            typer.secho(f"no customer {customer_id}", fg="red", err=True)
            raise typer.Exit(1)
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))

    @app.command("erase")
    def erase_command(
        customer_id: int,
        confirm: Annotated[str, typer.Option(help="the customer's e-mail (or id), to confirm")],
    ) -> None:
        """Erase the person's personal data everywhere (cannot be undone)."""
        settings = get_settings()
        runtime = create_runtime(settings)
        try:
            report = erase_customer(runtime.sessions, customer_id=customer_id, actor="cli",
                                    now=runtime.clock(), data_dir=settings.paths.data_dir,
                                    confirm=confirm)
        except ErasureError as exc:
            typer.secho(str(exc), fg="red", err=True)
            raise typer.Exit(2) from exc
        finally:
            runtime.close()
        typer.echo(f"erased customers {list(report.customer_ids)}: rows {dict(report.rows)}, "
                   f"files removed {len(report.files_removed)}")

    return app
