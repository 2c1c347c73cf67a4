"""Statements over a whole scan batch: one statement, one round trip, on either backend.

A batch holds hundreds of rows. On PostgreSQL the batch's values travel as arrays
(``unnest(:a, :b, ...)``, each an array literal: :func:`notifier.store.lists.pg_array`): a
short statement psycopg prepares once, instead of a statement with thousands of
placeholders that psycopg rewrites in Python on every execution (that rewrite alone took
most of a tick). On SQLite claims go as multi-row INSERTs and next checks through the
driver's executemany, both compiled once and fed converted tuples
(:mod:`notifier.store.inserts`).

Rows to write are tuples in the order of a ``columns`` list, and values are converted
for the database column by column: most columns of a batch repeat a handful of values
(the rule, the moment, the status), so each distinct value is converted once.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from notifier.store import inserts
from notifier.store.lists import pg_array

Row = tuple[Any, ...]


def _postgres(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def insert_new(conn: sa.Connection, table: sa.Table, columns: Sequence[str],
               rows: Sequence[Row], *, key: str,
               count_by: tuple[str, ...]) -> Counter[tuple[Any, ...]]:
    """Insert ``rows`` (tuples of ``columns``' values), skipping any whose ``key`` is
    taken, and count the rows really inserted by their ``count_by`` values.

    A conflicting row is decided by the database (on PostgreSQL a concurrent insert of
    the same key waits for the other transaction, then does nothing), so two workers can
    never both create one. PostgreSQL says which rows were new with RETURNING; SQLite (one
    writer, the batch holds the write lock) with the row counts of the inserts of each
    group.
    """
    if not rows:
        return Counter()
    if _postgres(conn):
        return _pg_insert_new(conn, table, columns, rows, key=key, count_by=count_by)
    plan = inserts.compiled(_insert_ignoring(table, key), tuple(columns))
    groups: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    at = [columns.index(c) for c in count_by]
    for row, params in zip(rows, inserts.by_columns(plan, columns, rows), strict=True):
        groups[tuple(row[i] for i in at)].append(params)
    counts: Counter[tuple[Any, ...]] = Counter()
    for group, params in groups.items():
        for result in inserts.insert_rows(conn, plan, params):
            if result.rowcount > 0:
                counts[group] += result.rowcount
    return counts


@cache
def _insert_ignoring(table: sa.Table, key: str) -> sa.Insert:
    return sqlite_insert(table).on_conflict_do_nothing(index_elements=[key])


def _pg_insert_new(conn: sa.Connection, table: sa.Table, columns: Sequence[str],
                   rows: Sequence[Row], *, key: str,
                   count_by: tuple[str, ...]) -> Counter[tuple[Any, ...]]:
    # A column with one value for the whole batch (the rule, the moment, the status...)
    # goes as one parameter, the others as arrays: psycopg dumps arrays element by element.
    arrays: dict[str, Any] = {}
    values_of: dict[str, Any] = {}
    for name, values in zip(columns, zip(*rows, strict=True), strict=True):
        kind = table.c[name].type
        first = values[0]
        if name != key and values.count(first) == len(values):
            values_of[name] = sa.bindparam(f"c_{name}", first, type_=kind)
            continue
        listed: list[Any] = list(values)
        if isinstance(kind, sa.JSON):  # an array of JSON texts; a list would be a dimension
            listed, kind = inserts.converted(listed, json.dumps), sa.Text()
        arrays[name] = pg_array(f"v_{name}", listed, kind)
    unnested = sa.func.unnest(*arrays.values()).table_valued(*arrays).render_derived()
    for name in arrays:
        value = unnested.c[name]
        values_of[name] = (sa.cast(value, sa.JSON) if isinstance(table.c[name].type, sa.JSON)
                           else value)
    stmt = (pg_insert(table).from_select(list(columns),
                                         sa.select(*(values_of[n] for n in columns)))
            .on_conflict_do_nothing(index_elements=[key])
            .returning(*(table.c[c] for c in count_by)))
    return Counter(tuple(r) for r in conn.execute(stmt))


def set_by_id(conn: sa.Connection, table: sa.Table, column: str,
              values: Sequence[tuple[int, Any]]) -> None:
    """Set ``column`` of each row ``id`` to its value, for ``(id, value)`` pairs."""
    if not values:
        return
    if not _postgres(conn):
        plan = inserts.compiled(_update_by_id(table), ("row_id", column))
        inserts.execute_many(conn, plan, inserts.by_columns(plan, ("row_id", column), values))
        return
    ids = pg_array("ids", [i for i, _ in values], table.c.id.type)
    new = pg_array("values", [v for _, v in values], table.c[column].type)
    pairs = sa.func.unnest(ids, new).table_valued("row_id", "value").render_derived()
    conn.execute(sa.update(table).where(table.c.id == pairs.c.row_id)
                 .values({column: pairs.c.value}))


@cache
def _update_by_id(table: sa.Table) -> sa.Update:
    return sa.update(table).where(table.c.id == sa.bindparam("row_id"))
