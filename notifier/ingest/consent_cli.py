"""``notifier consents history CUSTOMER``: the consent audit trail of one customer.

    notifier consents history 42                      # our customer id
    notifier consents history shopify:115310627314723954 --json

Every word that changed, or tried to change, the customer's consent: when we recorded
it, the channel and purpose, granted or withdrawn, when the customer acted (as the sender
told us), the source, and whether it was applied or refused with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

import typer
from sqlmodel import Session, select

from notifier.config import Settings
from notifier.runtime import create_runtime
from notifier.store import consent_log
from notifier.store.tables import Customer


def build_consents_cli(get_settings: Callable[[], Settings]) -> typer.Typer:
    app = typer.Typer(help="Consent audit trail.", no_args_is_help=True)

    @app.command("history")
    def history_command(
        customer: Annotated[str, typer.Argument(help="customer id, or SOURCE:EXTERNAL_ID")],
        as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    ) -> None:
        """Show every consent change of one customer, oldest first."""
        runtime = create_runtime(get_settings())
        try:
            with runtime.sessions() as session:
                customer_id = _find(session, customer)
                if customer_id is None:
                    typer.secho(f"no customer {customer!r}", fg="red", err=True)
                    raise typer.Exit(1)
                changes = consent_log.history(session, customer_id=customer_id)
        finally:
            runtime.close()
        for c in changes:
            row = {"recorded_at": c.recorded_at.isoformat(), "channel": c.channel,
                   "purpose": c.purpose, "granted": c.granted,
                   "at": c.at.isoformat() if c.at else None, "source": c.source,
                   "outcome": c.outcome, "reason": c.reason, "event_id": c.event_id}
            if as_json:
                typer.echo(json.dumps(row, ensure_ascii=False))
                continue
            word = "granted" if c.granted else "withdrawn"
            typer.echo(f"{row['recorded_at']}  {c.channel}/{c.purpose} {word:<9} "
                       f"at={row['at'] or 'unknown'}  source={c.source}  {c.outcome}"
                       + (f" ({c.reason})" if c.reason else "")
                       + (f"  event={c.event_id}" if c.event_id else ""))
        if not changes:
            typer.echo("no consent changes recorded")

    return app


def _find(session: Session, text: str) -> int | None:
    source, sep, external_id = text.partition(":")
    if not sep:
        return int(text) if text.isdigit() and session.get(Customer, int(text)) else None
    row = session.exec(select(Customer.id).where(  # type: ignore[call-overload]
        Customer.source == source, Customer.external_id == external_id)).first()
    return row
