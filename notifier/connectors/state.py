"""Reading and writing a connector's :class:`ConnectorState` row; keyword-only queries.

Writers take the row with ``FOR UPDATE`` (SQLite's ``BEGIN IMMEDIATE`` already serialises
writers) so two pollers of the same connector queue instead of interleaving.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, select

from notifier.store.connector_tables import ConnectorState
from notifier.store.db import transaction


@dataclass(frozen=True)
class Snapshot:
    """What a poll needs to know of the stored state before it reads the platform."""

    journal_position: int | None = None
    journal_read_at: datetime | None = None
    resync_from: datetime | None = None
    last_resync_at: datetime | None = None
    retry_at: datetime | None = None


def lock_state(session: Session, *, name: str) -> ConnectorState:
    """The connector's row, locked for this transaction; created on first use."""
    stmt = select(ConnectorState).where(ConnectorState.name == name).with_for_update()
    state = session.exec(stmt).first()
    if state is None:
        state = ConnectorState(name=name)
        session.add(state)
        session.flush()
    return state


def read_snapshot(sessions: sessionmaker[Session], *, name: str) -> Snapshot:
    with sessions() as session:
        state = session.get(ConnectorState, name)
        if state is None:
            return Snapshot()
        return Snapshot(state.journal_position, state.journal_read_at, state.resync_from,
                        state.last_resync_at, state.retry_at)


def record_success(sessions: sessionmaker[Session], *, name: str, now: datetime) -> None:
    with transaction(sessions) as session:
        state = lock_state(session, name=name)
        state.consecutive_failures = 0
        state.healthy = True
        state.last_error = None
        state.retry_at = None
        state.last_poll_at = state.last_success_at = state.updated_at = now


def record_failure(sessions: sessionmaker[Session], *, name: str, now: datetime, error: str,
                   unhealthy_after: int, hold_s: Callable[[int], float]) -> ConnectorState:
    """Count one more failed poll; unhealthy from ``unhealthy_after`` failures in a row.
    Polls are held back ``hold_s(failures in a row)`` seconds."""
    with transaction(sessions) as session:
        state = lock_state(session, name=name)
        state.consecutive_failures += 1
        state.healthy = state.consecutive_failures < unhealthy_after
        state.last_error = error[:2000]
        state.retry_at = now + timedelta(seconds=hold_s(state.consecutive_failures))
        state.last_poll_at = state.last_failure_at = state.updated_at = now
        return state


def connector_health(session: Session, *, name: str, enabled: bool) -> dict[str, Any]:
    """The connector's health as JSON-ready values (``/healthz`` detail, metrics)."""
    state = session.get(ConnectorState, name)
    if state is None:
        return {"name": name, "enabled": enabled, "healthy": True, "polled": False,
                "consecutive_failures": 0}

    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return {
        "name": name,
        "enabled": enabled,
        "healthy": state.healthy,
        "polled": state.last_poll_at is not None,
        "consecutive_failures": state.consecutive_failures,
        "last_error": state.last_error,
        "last_success_at": iso(state.last_success_at),
        "last_failure_at": iso(state.last_failure_at),
        "retry_at": iso(state.retry_at),
        "journal_position": state.journal_position,
        "journal_read_at": iso(state.journal_read_at),
        "resync_pending": state.resync_from is not None,
        "resync_reason": state.resync_reason,
        "last_resync_at": iso(state.last_resync_at),
    }
