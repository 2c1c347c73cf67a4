"""``notifier offers import-codes | status | deliver``."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from notifier.offers.commands import build_offers_cli
from notifier.store.offer_tables import OfferPoolCode
from tests.offers.conftest import offer_settings

POOLED = {"pooled": {"tiers": [{"percent": 10}], "codes": "pool"}}


def test_import_codes_then_status(tmp_path: Path, db_url: str,
                                  sessions: sessionmaker[Session]) -> None:
    settings = offer_settings(tmp_path, db_url, policies=POOLED)
    cli = build_offers_cli(lambda: settings)
    runner = CliRunner()
    plain = tmp_path / "plain.csv"
    plain.write_text("ab-1\nAB-2\n\nab-1\n", encoding="utf-8")
    result = runner.invoke(cli, ["import-codes", str(plain), "--policy", "pooled"])
    assert result.exit_code == 0, result.output
    assert "imported: 2  already known: 1  rejected: 0" in result.output

    table = tmp_path / "export.csv"
    table.write_text("\ufeffCode,Policy\nXY-9,pooled\nXY-10,nope\nXY-11,\n", encoding="utf-8")
    result = runner.invoke(cli, ["import-codes", str(table)])
    assert result.exit_code == 1
    assert "imported: 1  already known: 0  rejected: 2" in result.output
    assert "line 3: unknown policy 'nope'" in result.output
    assert "line 4: no policy" in result.output

    result = runner.invoke(cli, ["import-codes", str(plain), "--policy", "nope"])
    assert result.exit_code == 2

    with sessions() as session:
        codes = session.exec(select(OfferPoolCode.code).order_by(col(OfferPoolCode.id))).all()
    assert list(codes) == ["AB-1", "AB-2", "XY-9"]

    result = runner.invoke(cli, ["status", "--now", "2026-12-01T09:00:00+01:00"])
    assert result.exit_code == 0, result.output
    assert "pooled" in result.output and "pool 3 free, 0 used" in result.output
    assert "delay-compensation       2026-12: 0 offer(s), 0 PLN of no cap" in result.output

    # Webhooks and shop calls are outbox rows the dispatcher sends: no separate command.
    result = runner.invoke(cli, ["deliver", "--now", "2026-12-01T09:00:00+01:00"])
    assert result.exit_code == 2
