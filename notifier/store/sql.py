"""``INSERT ... ON CONFLICT DO NOTHING`` on both backends."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from notifier.store.db import dialect_insert


def insert_ignore(session: Session, table: type[SQLModel], values: dict[str, Any],
                  *, keys: list[str]) -> bool:
    """Insert one row unless one with the same ``keys`` exists; True when inserted.

    On PostgreSQL a concurrent insert of the same key waits for the other transaction
    and then does nothing, so "exists" is always decided by the database.
    """
    # RETURNING, not rowcount: drivers report -1 for an insert SQLAlchemy adds RETURNING to.
    target = table.__table__  # type: ignore[attr-defined]
    insert = dialect_insert(session)
    stmt = (insert(target).values(**values).on_conflict_do_nothing(index_elements=keys)
            .returning(sa.literal_column("1")))
    return session.execute(stmt).first() is not None
