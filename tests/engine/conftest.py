"""Fixtures for engine tests: real database, shipped rules and templates, file outbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from notifier.clock import FrozenClock
from notifier.ingest.apply import Applier
from notifier.ingest.payloads import validate
from notifier.ingest.records import CartIn, CustomerIn, OrderIn, ShipmentIn
from notifier.pipeline import Engine, build_engine
from notifier.runtime import Runtime
from notifier.store.db import transaction
from notifier.store.tables import Notification

MODELS = {"customer": CustomerIn, "order": OrderIn, "shipment": ShipmentIn, "cart": CartIn}


def put(runtime: Runtime, kind: str, data: dict[str, Any], *, now: datetime,
        source: str = "api") -> None:
    """Store one record as ingest would, received at ``now``."""
    record = validate(MODELS[kind], data, context={"region": "PL"})
    with transaction(runtime.sessions) as session:
        Applier(session, runtime.settings, source=source, now=now).apply(record)


def notifications(runtime: Runtime, **where: Any) -> list[Notification]:
    """Outbox rows, customer messages unless ``kind=`` says otherwise (None: every kind)."""
    where.setdefault("kind", "message")
    if where["kind"] is None:
        del where["kind"]
    with runtime.sessions() as session:
        stmt = select(Notification).order_by(col(Notification.id))
        for name, value in where.items():
            stmt = stmt.where(getattr(Notification, name) == value)
        return list(session.exec(stmt).all())


def outbox_files(runtime: Runtime, channel: str) -> list[Path]:
    folder = runtime.settings.paths.outbox_dir / channel
    return sorted(folder.glob("*")) if folder.exists() else []


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
async def engine(runtime: Runtime) -> AsyncIterator[Engine]:
    built = build_engine(runtime, owner="test-worker")
    yield built
    await built.aclose()


async def tick(engine: Engine, clock: FrozenClock, moment: datetime):  # type: ignore[no-untyped-def]
    clock.set(moment)
    return await engine.run_due(moment)
