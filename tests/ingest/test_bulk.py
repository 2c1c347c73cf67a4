"""`notifier import`: batches, line-numbered rejections, the CLI summary."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import select
from typer.testing import CliRunner

from notifier.cli import app
from notifier.config import Settings
from notifier.store.tables import Order


def test_import_reports_rejected_lines(tmp_path: Path, settings: Settings,
                                       monkeypatch) -> None:
    lines = [
        json.dumps({"type": "customer", "external_id": "c1", "email": "a@example.pl"}),
        json.dumps({"type": "order", "external_id": f"o{1}", "currency": "PLN", "total": "10"}),
        "{not json",
        json.dumps({"type": "order", "external_id": "o2", "currency": "PLN", "total": "-5"}),
        json.dumps({"type": "parcel", "external_id": "x"}),
        "",
        json.dumps({"type": "order", "external_id": "o3", "currency": "EUR", "total": "7.5"}),
    ]
    data = tmp_path / "backfill.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{settings.database_url}"\n', encoding="utf-8")

    result = CliRunner().invoke(app, ["--config", str(config), "import", str(data)])
    assert result.exit_code == 1, result.output
    assert "accepted: 3  stale: 0  rejected: 3" in result.output
    assert "line 3: malformed JSON" in result.output
    assert "line 4: total:" in result.output
    assert "line 5: type must be one of" in result.output

    from notifier.runtime import create_runtime
    runtime = create_runtime(settings)
    with runtime.sessions() as session:
        ids = sorted(o.external_id for o in session.exec(select(Order)).all())
    runtime.close()
    assert ids == ["o1", "o3"]
