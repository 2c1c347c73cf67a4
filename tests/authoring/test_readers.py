"""Readers without an engine (reports, an API-only process) see the published rules."""

from __future__ import annotations

from datetime import UTC, datetime

from notifier.authoring import ensure_seeded, live, publish, save_draft
from notifier.reports.rules import current_rules
from notifier.runtime import Runtime
from notifier.store.db import transaction

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_reports_compare_against_the_published_split(runtime: Runtime) -> None:
    settings = runtime.settings
    files, _ = current_rules(settings, runtime.sessions)  # nothing stored: the files
    assert files.get("cart-abandoned").holdout == 0  # type: ignore[union-attr]
    assert ensure_seeded(runtime.sessions, settings, now=NOW) == []
    with transaction(runtime.sessions) as session:
        rule = live(session, "rule", "cart-abandoned")
        assert rule is not None
        text = rule.files["cart-abandoned.toml"].replace("holdout = 0", "holdout = 10", 1)
        assert text != rule.files["cart-abandoned.toml"]
        draft = save_draft(session, "rule", "cart-abandoned", {"cart-abandoned.toml": text},
                           author="o", now=NOW)
        assert publish(session, settings, "rule", "cart-abandoned", draft.id, author="o",
                       now=NOW) == []
    published, problem = current_rules(settings, runtime.sessions)
    assert problem is None
    assert published.get("cart-abandoned").holdout == 10  # type: ignore[union-attr]
