"""SIGHUP / ``rules reload`` publishes what was edited on disk, and only that: a version
published in the console meanwhile stays live."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from notifier.authoring import history, live, publish, save_draft
from notifier.config import Settings
from notifier.pipeline import build_engine
from notifier.runtime import create_runtime
from notifier.store.db import transaction
from tests.conftest import REPO

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SMS = "order_unshipped/pl/sms.txt"


async def test_reload_publishes_the_edited_files_and_keeps_a_console_publish(
    settings: Settings, tmp_path: Path
) -> None:
    rules, templates = tmp_path / "rules", tmp_path / "templates"
    shutil.copytree(REPO / "rules", rules)
    shutil.copytree(REPO / "templates", templates)
    paths = settings.paths.model_copy(update={"rules_dir": rules, "templates_dir": templates})
    runtime = create_runtime(settings.model_copy(update={"paths": paths}))
    engine = build_engine(runtime, channels={})
    try:
        with transaction(runtime.sessions) as session:
            shipped = live(session, "template", "order_unshipped")
            assert shipped is not None
            draft = save_draft(session, "template", "order_unshipped",
                               {**shipped.files, SMS: "Z konsoli: {{ order.number }}"},
                               author="m", now=NOW)
            assert publish(session, runtime.settings, "template", "order_unshipped",
                           draft.id, author="m", now=NOW) == []
        late = rules / "shipment-late.toml"
        late.write_text(late.read_text(encoding="utf-8").replace(
            'mode = "live"', 'mode = "dry-run"', 1),
            encoding="utf-8")

        assert engine.reload() == []
        assert engine.rules().get("shipment-late").mode == "dry-run"  # type: ignore[union-attr]
        assert (engine.composer.templates_dir / SMS).read_text(encoding="utf-8") \
            == "Z konsoli: {{ order.number }}"
        with runtime.sessions() as session:
            assert live(session, "template", "order_unshipped").id == draft.id  # type: ignore[union-attr]
            [reloaded, _] = history(session, "rule", "shipment-late")
        assert (reloaded.state, reloaded.author) == ("published", "reload")
        assert engine.reload() == []  # nothing changed on disk since: nothing published
        with runtime.sessions() as session:
            assert len(history(session, "rule", "shipment-late")) == 2
    finally:
        await engine.aclose()
        runtime.close()
