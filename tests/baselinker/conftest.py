"""Fixtures for the BaseLinker connector: a fake API over real HTTP, a fake monotonic
clock whose ``sleep`` only moves it, and the poller built the way the lead wires it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select

from notifier.config import Settings
from notifier.connectors.baselinker_poller import BaseLinkerPoller, build_baselinker_poller
from notifier.runtime import Runtime
from notifier.store.connector_tables import ConnectorState
from notifier.store.tables import Order, Shipment
from tests.conftest import make_settings
from tests.fakes.baselinker import FakeBaseLinker

TOKEN = "bl-test-token"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class FakeTime:
    """Monotonic time that only ``sleep`` moves: rate limits and backoff without waiting."""

    def __init__(self) -> None:
        self.t = 1_000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


@pytest.fixture
def bl() -> Iterator[FakeBaseLinker]:
    with FakeBaseLinker(token=TOKEN, now=T0) as fake:
        yield fake


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def baselinker_settings(tmp_path: Path, db_url: str, bl: FakeBaseLinker,
                        **overrides: Any) -> Settings:
    return make_settings(tmp_path, database={"url": db_url}, baselinker={
        "enabled": True, "token": TOKEN, "api_url": bl.api_url, "max_retries": 2,
        "status_map": {"1052": "shipped", "Anulowane": "cancelled"}, **overrides})


@pytest.fixture
def settings(tmp_path: Path, db_url: str, bl: FakeBaseLinker) -> Settings:
    return baselinker_settings(tmp_path, db_url, bl)


@pytest.fixture
async def poller(runtime: Runtime, fake_time: FakeTime) -> AsyncIterator[BaseLinkerPoller]:
    built = build_baselinker_poller(runtime, monotonic=fake_time.monotonic,
                                    sleep=fake_time.sleep)
    yield built
    await built.aclose()


def stored(runtime: Runtime) -> dict[str, Any]:
    """What the database holds from BaseLinker: counts, tracking events, the position."""
    with runtime.sessions() as session:
        orders = session.exec(select(func.count()).select_from(Order)
                              .where(Order.source == "baselinker")).one()
        shipments = session.exec(select(Shipment).where(Shipment.source == "baselinker")).all()
        state = session.get(ConnectorState, "baselinker")
        return {"orders": orders, "shipments": len(shipments),
                "events": sum(len(s.events) for s in shipments),
                "position": state.journal_position if state else None}


def state(runtime: Runtime) -> ConnectorState:
    with runtime.sessions() as session:
        row = session.get(ConnectorState, "baselinker")
        assert row is not None
        return row
