"""Everything the track stage learns appears in ``notifier notifications why``, in
``GET /v1/notifications/{id}`` and on the customer's timeline."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from notifier.app import create_app
from notifier.cli import app as cli
from notifier.clock import FrozenClock
from notifier.escalation.timeline import timeline
from notifier.pipeline import Engine
from notifier.runtime import Runtime
from notifier.store.tables import Cart
from tests.engine.conftest import put
from tests.track.conftest import CUSTOMER, SENT, sent_cart_email, text_of

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"


async def test_outcomes_in_why_api_and_timeline(runtime: Runtime, engine: Engine,
                                                clock: FrozenClock, tmp_path: Path) -> None:
    n, msg = await sent_cart_email(runtime, engine, clock)
    [path] = re.findall(r"https?://[^/\s]+(/r/[A-Za-z0-9._-]+)", text_of(msg))
    client = TestClient(create_app(runtime))
    clock.set(SENT + timedelta(seconds=2))
    client.get(path, headers={"user-agent": BROWSER}, follow_redirects=False)  # a scanner
    clock.set(SENT + timedelta(hours=1))
    client.get(path, headers={"user-agent": BROWSER}, follow_redirects=False)
    placed = SENT + timedelta(hours=3)
    put(runtime, "order", {"external_id": "5001", "number": "5001", "currency": "PLN",
                           "total": "98.00", "placed_at": placed.isoformat(),
                           "cart_external_id": "K-1", "customer": CUSTOMER}, now=placed)
    done = await engine.track(placed + timedelta(minutes=1))
    assert done["converted"] == 1 and done["recovered"] == 1

    api = client.get(f"/v1/notifications/{n.id}", headers={"Authorization": "Bearer test-key"})
    body = api.json()
    assert body["clicks"] == 1 and body["clicked_at"] == (SENT + timedelta(hours=1)).isoformat()
    assert body["converted_at"] == placed.isoformat() and body["converted_after_click"]
    assert body["conversion_order"] is not None and body["conversion_revenue"] == "98.0000"
    for field in ("delivered_at", "bounced_at", "complained_at", "rating"):
        assert field in body
    assert [c["flag"] for c in body["link_clicks"]] == ["too-soon", None]

    config = tmp_path / "cli.toml"
    config.write_text(f'[database]\nurl = "{runtime.settings.database_url}"\n', encoding="utf-8")
    why = CliRunner().invoke(cli, ["--config", str(config), "notifications", "why", str(n.id)])
    assert why.exit_code == 0, why.output
    assert "clicks: 1" in why.output and "1 scanner request(s) not counted (too-soon)" in why.output
    assert "converted" in why.output and "after a click" in why.output

    with runtime.sessions() as session:
        [entry] = timeline(session, customer_id=n.customer_id, order_id=None)
        cart = session.exec(select(Cart)).one()
    assert entry.clicked_at == SENT + timedelta(hours=1) and entry.converted_at == placed
    assert entry.to_payload()["conversion_order"] == body["conversion_order"]
    assert cart.recovered_via_link and cart.recovered_notification_id == n.id
    assert Decimal(body["conversion_revenue"]) == Decimal("98.00")
