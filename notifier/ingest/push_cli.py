"""``notifier push customer-token``: the token a shop's theme must render, to compare with."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from notifier.config import Settings
from notifier.ingest.customer_tokens import sign_customer_token


def add_push_commands(push_app: typer.Typer, get_settings: Callable[[], Settings]) -> None:
    @push_app.command("customer-token")
    def customer_token(
        external_id: Annotated[str, typer.Argument(help="the customer's id in customer_source")],
        valid_s: Annotated[int, typer.Option("--valid-s", help="seconds until it expires")] = 3600,
    ) -> None:
        """Print a signed customer token, as the storefront renders it into data-customer-token."""
        settings = get_settings()
        capture = settings.push.capture
        secret = capture.customer_token_secret.get_secret_value()
        if not secret:
            typer.secho("push.capture.customer_token_secret: not set", fg="red", err=True)
            raise typer.Exit(2)
        if not 0 < valid_s <= capture.max_token_age_s:
            typer.secho(f"--valid-s: between 1 and push.capture.max_token_age_s "
                        f"({capture.max_token_age_s})", fg="red", err=True)
            raise typer.Exit(2)
        expires = datetime.now(UTC) + timedelta(seconds=valid_s)
        typer.echo(sign_customer_token(external_id, secret=secret, expires=expires))
