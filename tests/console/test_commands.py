"""``notifier users`` and ``notifier customers`` from the command line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from notifier.cli import app as cli
from notifier.store.db import create_db_engine
from notifier.store.migrate import upgrade


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n', encoding="utf-8")
    engine = create_db_engine(f"sqlite:///{tmp_path / 'var' / 'notifier.db'}")
    upgrade(engine)
    engine.dispose()
    return path


def test_users_add_list_remove(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    runner = CliRunner()
    added = runner.invoke(cli, ["-c", config, "users", "add", "Boss@Shop.example", "--role",
                                "owner", "--password-stdin"], input="a long password\n")
    assert added.exit_code == 0, added.output
    assert "added boss@shop.example (owner)" in added.output
    again = runner.invoke(cli, ["-c", config, "users", "add", "boss@shop.example", "--role",
                                "owner", "--password-stdin"], input="a long password\n")
    assert again.exit_code == 2 and "already exists" in again.output
    bad = runner.invoke(cli, ["-c", config, "users", "add", "x@shop.example", "--role",
                              "admin", "--password-stdin"], input="a long password\n")
    assert bad.exit_code == 2 and "role" in bad.output
    short = runner.invoke(cli, ["-c", config, "users", "add", "y@shop.example", "--role",
                                "viewer", "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "password" in short.output
    listed = runner.invoke(cli, ["-c", config, "users", "list"])
    assert "boss@shop.example" in listed.output and "owner" in listed.output
    removed = runner.invoke(cli, ["-c", config, "users", "remove", "boss@shop.example"])
    assert removed.exit_code == 0
    assert "boss@shop.example" not in runner.invoke(cli, ["-c", config, "users", "list"]).output


def test_customers_export_unknown_and_erase_needs_confirmation(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    runner = CliRunner()
    assert runner.invoke(cli, ["-c", config, "customers", "export", "7"]).exit_code == 1
    refused = runner.invoke(cli, ["-c", config, "customers", "erase", "7", "--confirm", "x"])
    assert refused.exit_code == 2 and "no customer 7" in refused.output
