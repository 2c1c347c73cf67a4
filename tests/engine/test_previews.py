"""`templates preview --customer ID` renders with a stored customer's own data."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

from typer.testing import CliRunner

from notifier.cli import app
from notifier.runtime import Runtime
from tests.engine.conftest import put

T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)


def test_preview_as_a_stored_customer(runtime: Runtime, tmp_path: Path) -> None:
    put(runtime, "order", {
        "external_id": "1001", "number": "#1001", "currency": "PLN", "total": "249.00",
        "payment_status": "paid", "placed_at": T0.isoformat(),
        "customer": {"external_id": "c-1", "email": "tomasz@example.pl",
                     "first_name": "Tomasz", "salutation": "mr", "locale": "pl"}}, now=T0)
    settings = runtime.settings
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "{settings.database_url}"\n'
        f'[paths]\nrules_dir = "{settings.paths.rules_dir}"\n'
        f'templates_dir = "{settings.paths.templates_dir}"\n', encoding="utf-8")
    out = tmp_path / "preview"
    result = CliRunner().invoke(app, ["--config", str(config), "templates", "preview",
                                      "order_unshipped", "--channel", "email",
                                      "--customer", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    [eml] = list(out.glob("*.eml"))
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == "tomasz@example.pl"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Panie Tomaszu" in text and "#1001" in text

    missing = CliRunner().invoke(app, ["--config", str(config), "templates", "preview",
                                       "order_unshipped", "--customer", "999"])
    assert missing.exit_code == 1 and "no customer with id 999" in missing.output
