"""The due rows of one scan batch, read as plain Core rows.

Only the columns :func:`notifier.store.facts.facts_of` builds the batch's facts from are
read (one query for the batch), and on PostgreSQL they are taken ``FOR UPDATE SKIP
LOCKED``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from notifier.store.facts import ENTITY_COLUMNS
from notifier.store.snapshots import ENTITY_TABLES

Row = Any  # a Core row: attribute access by column name


def _table(kind: str) -> sa.Table:
    return ENTITY_TABLES[kind].__table__  # type: ignore[attr-defined, no-any-return]


def due_probe(kind: str, now: datetime) -> sa.ScalarSelect[Any]:
    """The id of a row of ``kind`` due at ``now``, else NULL: one index probe.

    Ordered by ``next_check_at`` like the batch query, so PostgreSQL walks that index.
    With ``EXISTS`` its planner may choose a sequential scan when its statistics expect
    many due rows (just after a big tick) and, none being left, read the whole table.
    """
    table = _table(kind)
    return (sa.select(table.c.id).where(table.c.next_check_at <= now)
            .order_by(table.c.next_check_at).limit(1).scalar_subquery())


def due_rows(conn: sa.Connection, kind: str, now: datetime, limit: int) -> Sequence[Row]:
    """Up to ``limit`` rows of ``kind`` whose ``next_check_at`` has come, earliest first.

    On PostgreSQL they are locked ``FOR UPDATE SKIP LOCKED``: concurrent workers take
    different rows, and a row comes back to the scan only after its batch committed.
    """
    table = _table(kind)
    stmt = (
        sa.select(*ENTITY_COLUMNS[kind])
        .where(table.c.next_check_at <= now)
        .order_by(table.c.next_check_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return conn.execute(stmt).all()
