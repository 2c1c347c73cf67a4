"""``notifier users add/list/remove``: the console's accounts, managed from a terminal
(the first owner can only be made here)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer

from notifier.config import Settings
from notifier.console.auth import Role, UserError, add_user, list_users, remove_user
from notifier.runtime import create_runtime
from notifier.store.db import transaction


def build_users_cli(get_settings: Callable[[], Settings]) -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, help="Web console users.")

    @app.command("add")
    def add_command(
        email: str,
        role: Annotated[str, typer.Option(help=", ".join(r.value for r in Role))],
        password_stdin: Annotated[bool, typer.Option(
            "--password-stdin", help="read the password from standard input")] = False,
        locale: Annotated[str | None, typer.Option(help="pl or en; default: the browser's")
                          ] = None,
    ) -> None:
        """Add a console user; the password is asked for (or read from stdin)."""
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        runtime = create_runtime(get_settings())
        try:
            with transaction(runtime.sessions) as session:
                user = add_user(session, email=email, role=role, password=password,
                                now=runtime.clock(), locale=locale)
            typer.echo(f"added {user.email} ({user.role})")
        except UserError as exc:
            typer.secho(str(exc), fg="red", err=True)
            raise typer.Exit(2) from exc
        finally:
            runtime.close()

    @app.command("list")
    def list_command() -> None:
        """Every console user with role and last sign-in."""
        runtime = create_runtime(get_settings())
        with runtime.sessions() as session:
            for user in list_users(session):
                last = user.last_login_at.isoformat() if user.last_login_at else "never"
                locked = (f"  locked until {user.locked_until.isoformat()}"
                          if user.locked_until and user.locked_until > runtime.clock() else "")
                typer.echo(f"{user.email:<40} {user.role:<9} last sign-in {last}{locked}")
        runtime.close()

    @app.command("remove")
    def remove_command(email: str) -> None:
        """Remove a console user (their open sessions end with the account)."""
        runtime = create_runtime(get_settings())
        try:
            with transaction(runtime.sessions) as session:
                remove_user(session, email=email, now=runtime.clock())
            typer.echo(f"removed {email}")
        except UserError as exc:
            typer.secho(str(exc), fg="red", err=True)
            raise typer.Exit(1) from exc
        finally:
            runtime.close()

    return app
