"""The objects one process shares: settings, database, clock. Built by a factory, passed down."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from notifier.clock import Clock, system_clock
from notifier.config import Settings
from notifier.metrics import Metrics
from notifier.store.db import create_db_engine, session_factory


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    metrics: Metrics = field(default_factory=Metrics)  # this process's Prometheus counters

    def close(self) -> None:
        self.engine.dispose()


def create_runtime(settings: Settings, *, clock: Clock | None = None,
                   engine: Engine | None = None) -> Runtime:
    engine = engine or create_db_engine(settings.database_url, echo=settings.database.echo)
    return Runtime(settings=settings, engine=engine, sessions=session_factory(engine),
                   clock=clock or system_clock)
