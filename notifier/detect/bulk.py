"""Statements over a whole scan batch: one statement, one round trip, on either backend.

A batch holds hundreds of rows. On PostgreSQL the batch's values travel as arrays
(``= ANY(:ids)``, ``unnest(:a, :b, ...)``): a short statement psycopg prepares once,
instead of a statement with thousands of placeholders that psycopg rewrites in Python on
every execution (that rewrite alone took most of a tick). SQLite takes ``IN (...)`` and
SQLAlchemy's executemany, which its driver runs in C.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert


def _postgres(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def among(conn: sa.Connection, column: sa.ColumnElement[Any],
          values: Collection[Any]) -> sa.ColumnElement[bool]:
    """``column`` is one of ``values``: ``= ANY(array)`` on PostgreSQL, ``IN`` on SQLite."""
    if _postgres(conn):
        return column == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def insert_new(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]], *,
               key: str, count_by: tuple[str, ...]) -> Counter[tuple[Any, ...]]:
    """Insert ``rows`` (all with the same keys), skipping any whose ``key`` is taken, and
    count the rows really inserted by their ``count_by`` values.

    A conflicting row is decided by the database (on PostgreSQL a concurrent insert of
    the same key waits for the other transaction, then does nothing), so two workers can
    never both create one. PostgreSQL says which rows were new with RETURNING; SQLite (one
    writer, the batch holds the write lock) with the row count of an executemany per group.
    """
    if not rows:
        return Counter()
    if _postgres(conn):
        return _pg_insert_new(conn, table, rows, key=key, count_by=count_by)
    names = list(rows[0])
    defaults = {c.name: c.default.arg for c in table.c  # type: ignore[attr-defined]
                if c.name not in names and c.default is not None and c.default.is_scalar}
    columns = [*names, *defaults]
    quote = conn.dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
           f"VALUES ({', '.join('?' for _ in columns)}) "
           f"ON CONFLICT ({quote(key)}) DO NOTHING")
    # The columns' own bind processors (JSON, UTC datetimes), applied in one tight loop:
    # SQLAlchemy's per-row parameter handling cost more than SQLite's insert itself.
    procs = [table.c[c].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
             for c in columns]
    tail = tuple(defaults.values())
    groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        values = (*(row[n] for n in names), *tail)
        groups[tuple(row[c] for c in count_by)].append(
            tuple(v if p is None or v is None else p(v) for p, v in zip(procs, values,
                                                                         strict=True)))
    counts: Counter[tuple[Any, ...]] = Counter()
    for group, params in groups.items():
        inserted = conn.exec_driver_sql(sql, params).rowcount
        if inserted > 0:
            counts[group] += inserted
    return counts


def _pg_insert_new(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]], *,
                   key: str, count_by: tuple[str, ...]) -> Counter[tuple[Any, ...]]:
    # A column with one value for the whole batch (the rule, the moment, the status...)
    # goes as one parameter, the others as arrays: psycopg dumps arrays element by element.
    names = list(rows[0])
    arrays: dict[str, Any] = {}
    columns: dict[str, Any] = {}
    for name in names:
        kind = table.c[name].type
        values = [r[name] for r in rows]
        first = values[0]
        if name != key and all(v == first for v in values):
            columns[name] = sa.bindparam(f"c_{name}", first, type_=kind)
            continue
        if isinstance(kind, sa.JSON):  # an array of JSON texts; a list would be a dimension
            values, kind = [None if v is None else json.dumps(v) for v in values], sa.Text()
        arrays[name] = sa.bindparam(f"v_{name}", values, type_=ARRAY(kind))
    unnested = sa.func.unnest(*arrays.values()).table_valued(*arrays).render_derived()
    for name in arrays:
        value = unnested.c[name]
        columns[name] = (sa.cast(value, sa.JSON) if isinstance(table.c[name].type, sa.JSON)
                         else value)
    stmt = (pg_insert(table).from_select(names, sa.select(*(columns[n] for n in names)))
            .on_conflict_do_nothing(index_elements=[key])
            .returning(*(table.c[c] for c in count_by)))
    return Counter(tuple(r) for r in conn.execute(stmt))


def set_by_id(conn: sa.Connection, table: sa.Table, column: str,
              values: Sequence[tuple[int, Any]]) -> None:
    """Set ``column`` of each row ``id`` to its value, for ``(id, value)`` pairs."""
    if not values:
        return
    target = table.c[column]
    if not _postgres(conn):
        conn.execute(
            sa.update(table).where(table.c.id == sa.bindparam("b_row_id"))
            .values({column: sa.bindparam("b_value")}),
            [{"b_row_id": i, "b_value": v} for i, v in values],
        )
        return
    ids = sa.bindparam("ids", [i for i, _ in values], type_=ARRAY(table.c.id.type))
    new = sa.bindparam("values", [v for _, v in values], type_=ARRAY(target.type))
    pairs = sa.func.unnest(ids, new).table_valued("row_id", "value").render_derived()
    conn.execute(sa.update(table).where(table.c.id == pairs.c.row_id)
                 .values({column: pairs.c.value}))
