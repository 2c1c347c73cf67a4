"""The audit log: who changed what and when. Written in the same transaction as the change,
so a change without its entry (or an entry without its change) cannot happen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from notifier.store.console_tables import AuditEntry


def record(session: Session, *, actor: str, action: str, target: str, now: datetime,
           detail: dict[str, Any] | None = None) -> None:
    session.add(AuditEntry(at=now, actor=actor, action=action, target=target,
                           detail=detail or {}))


def recent(session: Session, *, limit: int = 200, before_id: int | None = None
           ) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(col(AuditEntry.id) < before_id)
    return list(session.exec(stmt).all())
