"""A worker told to stop mid-batch finishes the render in progress and hands back the rest:
a batch of runaway renders (each stopped only by the sandbox's time budget) does not keep
SIGTERM waiting for a budget per message."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from notifier.clock import FrozenClock
from notifier.compose import Composer, RenderContext
from notifier.config import Settings
from notifier.deliver.files import FileEmailChannel
from notifier.domain import Channel, Message
from notifier.offers import OfferService
from notifier.pipeline import Engine, load_rulebook
from notifier.runtime import Runtime, create_runtime
from notifier.store.tables import DeliveryAttempt
from tests.conftest import REPO
from tests.engine.conftest import notifications, put

T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
DUE = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
ORDERS = 5
# Runs for hours unless the sandbox stops it, and only for these orders: the shipped
# samples render, so each message fails alone instead of disabling the step.
RUNAWAY = ('{% if "RUNAWAY" in order.number %}{% for i in range(100000) %}'
           '{% for j in range(100000) %}{% endfor %}{% endfor %}{% endif %}')


class StopOnFirstRender(Composer):
    """The real composer; the first customer message it renders asks the worker to stop,
    as SIGTERM arriving while that render runs would (``Engine.aclose``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.engine: Engine | None = None
        self.rendered: list[str] = []

    def render(self, message_name: str, channel: Channel, ctx: RenderContext,
               **options: Any) -> Message:
        if ctx.order is not None and "RUNAWAY" in (ctx.order.number or ""):
            self.rendered.append(ctx.order.number or "")
            if self.engine is not None:
                self.engine.dispatcher.stop()
        return super().render(message_name, channel, ctx, **options)


@pytest.fixture
async def stopping(settings: Settings, tmp_path: Path, clock: FrozenClock
                   ) -> AsyncIterator[tuple[Engine, StopOnFirstRender]]:
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    body = templates / "order_unshipped" / "pl" / "email.txt"
    body.write_text(body.read_text(encoding="utf-8").replace(
        "{% block content %}", "{% block content %}" + RUNAWAY, 1), encoding="utf-8")
    settings = settings.model_copy(update={"paths": settings.paths.model_copy(
        update={"templates_dir": templates})})
    runtime = create_runtime(settings, clock=clock)
    composer = StopOnFirstRender.from_settings(settings)
    engine = Engine(runtime, rules=load_rulebook(settings, composer), composer=composer,
                    channels={Channel.EMAIL: FileEmailChannel(settings.paths.outbox_dir / "email",
                                                              default_from="s@example.pl")},
                    owner="stopping-worker", offers=OfferService(settings))
    composer.engine = engine
    yield engine, composer
    await engine.aclose()
    runtime.close()


def _seed(runtime: Runtime) -> None:
    for i in range(ORDERS):
        put(runtime, "order", {
            "external_id": f"o{i}", "number": f"RUNAWAY-{i}", "currency": "PLN",
            "total": "100", "payment_status": "paid", "placed_at": T0.isoformat(),
            "ship_by": "2026-12-02T12:00:00+01:00",
            "customer": {"external_id": f"c{i}", "email": f"c{i}@example.pl",
                         "locale": "pl"}}, now=T0)


async def test_stop_mid_batch_renders_one_and_hands_back_the_rest(
        stopping: tuple[Engine, StopOnFirstRender], clock: FrozenClock) -> None:
    engine, composer = stopping
    runtime = engine.runtime
    _seed(runtime)
    clock.set(DUE)
    assert sum((await engine.detect(DUE)).created.values()) == ORDERS

    done = await engine.dispatch(DUE)

    # Only the render that was running when the stop came; the sandbox ended it.
    assert len(composer.rendered) == 1
    assert done == {"failed": 1, "pending": ORDERS - 1}
    rows = notifications(runtime)
    [failed] = [n for n in rows if n.status == "failed"]
    assert "time budget" in (failed.reason or "")
    handed_back = [n for n in rows if n.status == "pending"]
    assert len(handed_back) == ORDERS - 1
    for n in handed_back:  # claimable again at once by any worker, never begun
        assert n.lease_owner is None and n.lease_until is None
        assert n.reason == "handed back by a stopping worker"
    with runtime.sessions() as session:
        assert session.exec(select(DeliveryAttempt)).all() == []
    assert not (runtime.settings.paths.outbox_dir / "email").exists()
