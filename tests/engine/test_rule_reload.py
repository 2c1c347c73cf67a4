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
    problems = engine.reload()
    assert any("shipment-late.toml" in p and "trigger" in p for p in problems)
    assert {r.name for r in engine.rules()} == before

    (rules_dir / "shipment-late.toml").unlink()
    assert engine.reload() == []
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


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(REPO / "templates", target)
    return target


def _with_dirs(settings: Settings, rules_dir: Path, templates_dir: Path) -> Settings:
    return settings.model_copy(update={"paths": settings.paths.model_copy(
        update={"rules_dir": rules_dir, "templates_dir": templates_dir})})


def _render_unshipped(engine) -> str:  # type: ignore[no-untyped-def]
    from notifier.compose.samples import sample_context
    from notifier.domain import Channel

    shop = engine.runtime.settings.shop
    message = engine.composer.render("order_unshipped", Channel.EMAIL,
                                     sample_context("order_unshipped", "pl", shop))
    return message.text


def test_reload_refuses_a_broken_template_and_keeps_the_last_good_one(
    settings: Settings, rules_dir: Path, templates_dir: Path
) -> None:
    runtime = create_runtime(_with_dirs(settings, rules_dir, templates_dir))
    engine = build_engine(runtime, channels={})
    good = _render_unshipped(engine)
    body = templates_dir / "order_unshipped" / "pl" / "email.txt"
    body.write_text(body.read_text(encoding="utf-8") + "{% if %}", encoding="utf-8")

    problems = engine.reload()
    assert any("order_unshipped/pl/email.txt" in p and "syntax error" in p for p in problems)
    assert _render_unshipped(engine) == good  # the last good template is still the live one
    runtime.close()


def test_reload_refuses_an_empty_rule_set(settings: Settings, rules_dir: Path,
                                          templates_dir: Path) -> None:
    runtime = create_runtime(_with_dirs(settings, rules_dir, templates_dir))
    engine = build_engine(runtime, channels={})
    before = len(engine.rules())
    for path in rules_dir.glob("*.toml"):
        path.unlink()
    problems = engine.reload()
    assert problems and "no rules" in problems[0]
    assert len(engine.rules()) == before
    runtime.close()


def test_post_rules_reload_answers_that_it_kept_the_last_good_set(
    settings: Settings, rules_dir: Path, templates_dir: Path
) -> None:
    from fastapi.testclient import TestClient

    from notifier.app import create_app

    runtime = create_runtime(_with_dirs(settings, rules_dir, templates_dir))
    engine = build_engine(runtime, channels={})
    client = TestClient(create_app(runtime, engine=engine))  # no lifespan: no scheduler
    auth = {"Authorization": "Bearer test-key"}
    assert client.post("/v1/rules/reload", headers=auth).json()["reloaded"] is True
    body = templates_dir / "order_unshipped" / "pl" / "sms.txt"
    body.write_text("{{ order.number * 10**8 }}", encoding="utf-8")
    response = client.post("/v1/rules/reload", headers=auth)
    assert response.status_code == 422
    answer = response.json()
    assert answer["reloaded"] is False and answer["rules"] == len(engine.rules())
    assert any("sms.txt" in p for p in answer["problems"])
    runtime.close()
