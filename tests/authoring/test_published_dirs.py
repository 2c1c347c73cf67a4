"""The worker's copy of the published set: written once per content, re-read only when a
version changed, and old copies nobody uses are cleaned up after a day."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from notifier.authoring import ensure_seeded, live, publish, save_draft
from notifier.authoring.published import UNUSED_FOR_S, PublishedSet
from notifier.runtime import Runtime
from notifier.store.db import transaction

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_publish_gives_a_new_directory_and_old_unused_ones_are_removed(
    runtime: Runtime
) -> None:
    settings = runtime.settings
    assert ensure_seeded(runtime.sessions, settings, now=NOW) == []
    moment = [1_000_000_000.0]
    parent = settings.paths.data_dir / "published"
    worker = PublishedSet(runtime.sessions, "rule", parent, wall_clock=lambda: moment[0])
    first = worker.directory()
    assert sorted(p.name for p in first.iterdir()) == sorted(
        p.name for p in settings.paths.rules_dir.glob("*.toml"))
    assert worker.directory() == first  # nothing published: the same copy
    other = PublishedSet(runtime.sessions, "rule", parent, wall_clock=lambda: moment[0])
    assert other.directory() == first  # the same set, the same directory

    stale = parent / "rules-0123456789abcdef0123"
    stale.mkdir()
    os.utime(stale, (moment[0] - UNUSED_FOR_S - 1,) * 2)
    with transaction(runtime.sessions) as session:
        rule = live(session, "rule", "cart-abandoned")
        assert rule is not None
        text = rule.files["cart-abandoned.toml"].replace('mode = "live"', 'mode = "dry-run"', 1)
        draft = save_draft(session, "rule", "cart-abandoned", {"cart-abandoned.toml": text},
                           author="o", now=NOW)
        assert publish(session, settings, "rule", "cart-abandoned", draft.id, author="o",
                       now=NOW) == []
    second = worker.directory()
    assert second != first
    assert 'mode = "dry-run"' in (second / "cart-abandoned.toml").read_text(encoding="utf-8")
    assert first.is_dir()  # used a moment ago: another worker may still render from it
    assert not stale.exists()
