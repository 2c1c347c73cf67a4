"""A broken rule set is refused whole; a running engine keeps its last good set."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notifier.cli import app
from notifier.config import Settings
from notifier.errors import RuleError
from notifier.pipeline import build_engine
from notifier.runtime import create_runtime
from tests.conftest import REPO


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(REPO / "rules", target)
    return target


def _settings(settings: Settings, rules_dir: Path) -> Settings:
    return settings.model_copy(update={"paths": settings.paths.model_copy(
        update={"rules_dir": rules_dir})})


def test_reload_keeps_last_good_set(settings: Settings, rules_dir: Path) -> None:
    runtime = create_runtime(_settings(settings, rules_dir))
    engine = build_engine(runtime, channels={})
    before = {r.name for r in engine.rules()}
    assert "shipment-late" in before

    (rules_dir / "shipment-late.toml").write_text(
        (rules_dir / "shipment-late.toml").read_text(encoding="utf-8").replace(
            'trigger = "shipment.late"', 'trigger = "shipment.teleported"'), encoding="utf-8")
    problems = engine.rules.reload()
    assert any("shipment-late.toml" in p and "trigger" in p for p in problems)
    assert {r.name for r in engine.rules()} == before

    (rules_dir / "shipment-late.toml").unlink()
    assert engine.rules.reload() == []
    assert "shipment-late" not in {r.name for r in engine.rules()}
    runtime.close()


def test_engine_refuses_to_start_on_a_broken_set(settings: Settings, rules_dir: Path) -> None:
    (rules_dir / "broken.toml").write_text('name = "x"\ntrigger = "cart.abandoned"\n',
                                           encoding="utf-8")
    runtime = create_runtime(_settings(settings, rules_dir))
    with pytest.raises(RuleError) as err:
        build_engine(runtime, channels={})
    assert any(p.startswith(str(rules_dir / "broken.toml")) for p in err.value.problems)
    runtime.close()


def test_rules_check_command_prints_file_line_reason(rules_dir: Path) -> None:
    bad = rules_dir / "order-unshipped.toml"
    text = bad.read_text(encoding="utf-8").replace('grace = "4h"', 'grace = "soon"')
    bad.write_text(text, encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("grace"))
    result = CliRunner().invoke(app, ["rules", "check", str(rules_dir)])
    assert result.exit_code == 1
    assert f"order-unshipped.toml:{line}:" in result.output
    ok = CliRunner().invoke(app, ["rules", "check", str(REPO / "rules")])
    assert ok.exit_code == 0, ok.output
