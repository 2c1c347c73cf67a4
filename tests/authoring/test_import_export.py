"""``templates|rules export|import``: the shipped templates round-trip byte for byte, a
broken rules directory is refused whole, and check/simulate work on a stored draft."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notifier.authoring import ensure_seeded, history, import_dir, live, names, save_draft
from notifier.cli import app
from notifier.config import Settings
from notifier.runtime import Runtime, create_runtime
from notifier.store.db import transaction
from tests.conftest import REPO

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def config(runtime: Runtime, tmp_path: Path) -> Path:
    settings = runtime.settings
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "{settings.database_url}"\n'
        f'[paths]\ndata_dir = "{settings.paths.data_dir}"\n'
        f'rules_dir = "{settings.paths.rules_dir}"\n'
        f'templates_dir = "{settings.paths.templates_dir}"\n', encoding="utf-8")
    return path


def cli(config: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["--config", str(config), *args])


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_templates_export_then_import_round_trips_the_shipped_set_byte_for_byte(
    runtime: Runtime, config: Path, tmp_path: Path
) -> None:
    exported = tmp_path / "exported"
    result = cli(config, "templates", "export", str(exported))
    assert result.exit_code == 0, result.output
    assert files_of(exported) == files_of(REPO / "templates")

    unchanged = cli(config, "templates", "import", str(exported))
    assert unchanged.exit_code == 0, unchanged.output
    assert "published 0 templates" in unchanged.output
    again = tmp_path / "again"
    assert cli(config, "templates", "export", str(again)).exit_code == 0
    assert files_of(again) == files_of(REPO / "templates")

    # An edited copy imports as new versions of the names that changed, and only those;
    # a message a rule still uses cannot be dropped, another one can.
    sms = exported / "order_unshipped" / "pl" / "sms.txt"
    sms.write_bytes(sms.read_bytes().replace(b"przepraszamy", b"bardzo przepraszamy"))
    shutil.copytree(exported / "order_unshipped", exported / "order_extra")
    result = cli(config, "templates", "import", str(exported))
    assert result.exit_code == 0, result.output
    assert "published 2 templates (order_extra, order_unshipped), removed 0" in result.output
    shutil.rmtree(exported / "shipment_stalled")
    refused = cli(config, "templates", "import", str(exported))
    assert refused.exit_code == 1
    assert "shipment-stalled.toml:" in refused.output and "shipment_stalled" in refused.output
    shutil.copytree(REPO / "templates" / "shipment_stalled", exported / "shipment_stalled")
    shutil.rmtree(exported / "order_extra")
    result = cli(config, "templates", "import", str(exported))
    assert "published 0 templates (-), removed 1 (order_extra)" in result.output
    with runtime.sessions() as session:
        assert live(session, "template", "order_unshipped").number == 2  # type: ignore[union-attr]
        assert live(session, "template", "order_extra") is None
        assert "order_extra" not in names(session, "template")
        assert history(session, "template", "order_extra")[0].files == {}


def test_a_broken_rules_directory_is_refused_whole(runtime: Runtime, config: Path,
                                                   tmp_path: Path) -> None:
    assert cli(config, "rules", "export", str(tmp_path / "before")).exit_code == 0
    broken = tmp_path / "rules"
    shutil.copytree(REPO / "rules", broken)
    late = broken / "shipment-late.toml"
    late.write_text(late.read_text(encoding="utf-8").replace(
        'trigger = "shipment.late"', 'trigger = "shipment.teleported"'), encoding="utf-8")
    unshipped = broken / "order-unshipped.toml"  # a good change beside the broken one
    unshipped.write_text(unshipped.read_text(encoding="utf-8").replace(
        'grace = "4h"', 'grace = "6h"'), encoding="utf-8")

    result = cli(config, "rules", "import", str(broken))
    assert result.exit_code == 1
    assert f"{late}:" in result.output and "shipment.teleported" in result.output
    assert "import refused" in result.output
    assert cli(config, "rules", "export", str(tmp_path / "after")).exit_code == 0
    assert files_of(tmp_path / "after") == files_of(tmp_path / "before")
    with runtime.sessions() as session:
        assert [v.number for v in history(session, "rule", "order-unshipped")] == [1]

    empty = tmp_path / "empty"
    empty.mkdir()
    refused = cli(config, "rules", "import", str(empty))
    assert refused.exit_code == 1 and "no rules" in refused.output


def test_check_and_simulate_work_on_a_stored_draft(runtime: Runtime, config: Path) -> None:
    assert cli(config, "templates", "check", "--published").exit_code == 0
    with runtime.sessions() as session:
        current = live(session, "template", "order_unshipped")
        rule = live(session, "rule", "cart-abandoned")
    assert current is not None and rule is not None
    sms = "order_unshipped/pl/sms.txt"
    with transaction(runtime.sessions) as session:
        save_draft(session, "template", "order_unshipped",
                   {**current.files, sms: "{{ order.numer }}"}, author="m", now=NOW)
        text = rule.files["cart-abandoned.toml"]
        save_draft(session, "rule", "cart-abandoned",
                   {"cart-abandoned.toml": text.replace('template = "cart_reminder"',
                                                        'template = "cart_reminder_offer"', 1)},
                   author="o", now=NOW)
    result = cli(config, "templates", "check", "--draft", "order_unshipped")
    assert result.exit_code == 1
    assert f"{sms}:1: undefined" in result.output and "numer" in result.output
    assert cli(config, "templates", "check", "--published").exit_code == 0
    assert cli(config, "rules", "check", "--draft", "cart-abandoned").exit_code == 0
    preview = cli(config, "templates", "preview", "order_unshipped", "--channel", "sms",
                  "--draft", "order_unshipped")
    assert preview.exit_code == 1 and "numer" in preview.output
    simulated = cli(config, "rules", "simulate", "--from", "2026-12-01", "--to", "2026-12-03",
                    "--rule", "cart-abandoned", "--draft", "cart-abandoned")
    assert simulated.exit_code == 0, simulated.output
    assert "cart-abandoned step 1 [cart_reminder_offer]: 0 messages" in simulated.output
    published = cli(config, "rules", "simulate", "--from", "2026-12-01", "--to", "2026-12-03",
                    "--rule", "cart-abandoned")
    assert "cart-abandoned step 1 [cart_reminder]: 0 messages" in published.output


def test_first_start_leaves_a_readme_out_and_an_import_refuses_it(
    settings: Settings, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    (templates / "README.md").write_text("# our templates\n", encoding="utf-8")
    paths = settings.paths.model_copy(update={"templates_dir": templates})
    runtime = create_runtime(settings.model_copy(update={"paths": paths}))
    try:
        assert ensure_seeded(runtime.sessions, runtime.settings, now=NOW) == []
        with runtime.sessions() as session:
            assert "order_unshipped" in names(session, "template")
        with transaction(runtime.sessions) as session:
            result = import_dir(session, runtime.settings, "template", templates,
                                author="cli", now=NOW)
        assert result.problems == [f"{templates / 'README.md'}: not inside a message folder "
                                   "(templates/<name>/...)"]
    finally:
        runtime.close()


def test_history_publish_and_restore_commands(runtime: Runtime, config: Path) -> None:
    assert cli(config, "rules", "check", "--published").exit_code == 0  # stores the defaults
    with runtime.sessions() as session:
        rule = live(session, "rule", "order-unshipped")
    assert rule is not None
    text = rule.files["order-unshipped.toml"]
    with transaction(runtime.sessions) as session:
        broken = save_draft(session, "rule", "order-unshipped",
                            {"order-unshipped.toml": text.replace('grace = "4h"', 'grace = "x"')},
                            author="o", now=NOW, note="typo")
        good = save_draft(session, "rule", "order-unshipped",
                          {"order-unshipped.toml": text.replace('grace = "4h"', 'grace = "6h"')},
                          author="o", now=NOW, note="more grace")
    listed = cli(config, "rules", "history", "order-unshipped")
    assert listed.exit_code == 0
    assert [line.split()[3] for line in listed.output.splitlines()] == [
        "draft", "draft", "published"]
    refused = cli(config, "rules", "publish", "order-unshipped", str(broken.id))
    assert refused.exit_code == 1 and "order-unshipped.toml:" in refused.output \
        and "publish refused" in refused.output
    assert cli(config, "rules", "check", "--version", str(broken.id)).exit_code == 1
    assert cli(config, "rules", "publish", "order-unshipped", str(good.id)).exit_code == 0
    assert cli(config, "rules", "restore", "order-unshipped", str(rule.id)).exit_code == 0
    with runtime.sessions() as session:
        now_live = live(session, "rule", "order-unshipped")
    assert now_live is not None and now_live.files == rule.files and now_live.number == 4
