"""``notifier push customer-token`` prints a token the engine accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from notifier.cli import app as cli
from notifier.ingest.customer_tokens import verify_customer_token


def test_customer_token_verifies(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[push.capture]\ncustomer_token_secret = "s3"\n', encoding="utf-8")
    out = CliRunner().invoke(cli, ["--config", str(config), "push", "customer-token", "cust-1",
                                   "--valid-s", "600"])
    assert out.exit_code == 0, out.output
    token = out.output.strip()
    assert verify_customer_token(token, secret="s3", now=datetime.now(UTC),
                                 max_age_s=86400) == "cust-1"


def test_without_a_secret_it_says_which_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("", encoding="utf-8")
    out = CliRunner().invoke(cli, ["--config", str(config), "push", "customer-token", "c"])
    assert out.exit_code == 2
    assert "push.capture.customer_token_secret" in out.output
