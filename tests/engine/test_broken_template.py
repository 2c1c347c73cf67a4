"""A template that breaks at send time disables its rule step; nothing half-rendered goes
out, other rules keep working, and a reload with a fixed template brings the step back."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.clock import FrozenClock
from notifier.config import Settings
from notifier.pipeline import Engine, build_engine
from notifier.runtime import create_runtime
from tests.conftest import REPO
from tests.engine.conftest import notifications, outbox_files, put, tick

T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
DUE = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def order(external_id: str, email: str) -> dict[str, object]:
    return {"external_id": external_id, "currency": "PLN", "total": "100",
            "payment_status": "paid", "placed_at": T0.isoformat(),
            "ship_by": "2026-12-02T12:00:00+01:00",
            "customer": {"external_id": f"c-{external_id}", "email": email, "locale": "pl"}}


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(REPO / "templates", target)
    return target


@pytest.fixture
async def engine(settings: Settings, templates: Path, clock: FrozenClock
                 ) -> AsyncIterator[Engine]:
    paths = settings.paths.model_copy(update={"templates_dir": templates})
    runtime = create_runtime(settings.model_copy(update={"paths": paths}), clock=clock)
    built = build_engine(runtime)
    yield built
    await built.aclose()
    runtime.close()


async def test_broken_template_disables_the_step_and_sends_nothing(
    engine: Engine, clock: FrozenClock, templates: Path
) -> None:
    runtime = engine.runtime
    body = templates / "order_unshipped" / "pl" / "email.txt"
    good = body.read_text(encoding="utf-8")
    broken = good.replace("{% endblock %}", "{{ order.no_such_field }}\n{% endblock %}", 1)
    assert broken != good
    body.write_text(broken, encoding="utf-8")
    # A reload refuses it (tests/engine/test_rule_reload.py), as a publish would; a
    # template that breaks only at send time is the same as this one in the worker's
    # copy of the published set:
    assert any("email.txt" in p for p in engine.reload())
    live = engine.composer.templates_dir / "order_unshipped" / "pl" / "email.txt"
    live.write_text(broken, encoding="utf-8")
    engine.composer.environment.cache.clear()

    put(runtime, "order", order("1", "a@example.pl"), now=T0)
    put(runtime, "order", order("2", "b@example.pl"), now=T0)
    result = await tick(engine, clock, DUE)
    first, second = notifications(runtime)
    assert first.status == "failed" and "template error, step disabled" in first.reason
    assert "email.txt" in first.reason
    # The second was rendered in the same pass: skipped once the step is disabled (or,
    # rendered at the same moment on PostgreSQL, failed with the same template error).
    assert (second.status, second.reason.startswith("step disabled")) == ("skipped", True) \
        or (second.status == "failed" and "template error" in second.reason)
    assert outbox_files(runtime, "email") == []
    assert result.dispatched["failed"] >= 1

    body.write_text(good, encoding="utf-8")
    live.write_text(good, encoding="utf-8")
    assert engine.reload() == []
    put(runtime, "order", order("3", "c@example.pl"), now=DUE)
    await tick(engine, clock, DUE + timedelta(minutes=1))
    assert notifications(runtime)[-1].status == "sent"
