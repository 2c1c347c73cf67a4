"""Many rows in one statement, on either database: inserts, upserts and updates by id.

SQLite gets a multi-row INSERT and an executemany UPDATE (both cheap there). PostgreSQL
gets the rows as ONE JSON parameter, turned back into typed rows by the server
(``INSERT ... SELECT FROM json_to_recordset(...)``, ``UPDATE ... FROM json_to_recordset``):
the statement text is the same whatever the number of rows, so psycopg parses it once,
where a multi-row VALUES list (thousands of placeholders, over psycopg's 4 KB statement
cache) was parsed again for every batch, an executemany sent one prepared statement per
row, and text arrays had every quote of every payload escaped in Python.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

_PG = postgresql.dialect()


def insert_many(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
                returning: tuple[str, ...] = ()) -> list[sa.Row[Any]]:
    """Insert ``rows`` (all with the same keys); the ``returning`` columns of each, in no
    particular order (match them by a key, or sort ids: see service._insert_events)."""
    if not rows:
        return []
    columns = tuple(rows[0])
    if conn.dialect.name == "postgresql":
        result = conn.execute(_insert(_pg_from_json, table, columns, returning),
                              _as_json(table, columns, rows))
    else:
        result = conn.execute(_insert(None, table, columns, returning), list(rows))
    return list(result) if returning else []


def upsert_many(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
                returning: tuple[str, ...]) -> list[sa.Row[Any]]:
    """Insert ``rows``; a row whose (source, external_id) exists updates it instead, unless
    the stored ``source_updated_at`` is later (when the rows carry one): that row is
    neither written nor returned."""
    if not rows:
        return []
    columns = tuple(rows[0])
    if conn.dialect.name == "postgresql":
        return list(conn.execute(_upsert(_pg_from_json, table, columns, returning),
                                 _as_json(table, columns, rows)))
    return list(conn.execute(_upsert(sqlite.insert, table, columns, returning), list(rows)))


def update_many(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Update rows by id: each of ``rows`` has ``row_id`` and the same other keys."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(_update(table), list(rows))
        return
    columns = tuple(name for name in rows[0] if name != "row_id")
    conn.execute(_update_from_json(table, columns), _as_json(table, ("row_id", *columns), rows))


def update_joined(conn: sa.Connection, statement: sa.Update, spec: tuple[tuple[str, Any], ...],
                  rows: Sequence[dict[str, Any]], joined: Any) -> None:
    """``statement`` (parameters named as in ``rows``) for every row: an executemany on
    SQLite; on PostgreSQL one UPDATE joined to the rows, built by ``joined(v)`` from the
    table ``v`` of the ``spec`` (name, type) columns."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(statement, list(rows))
        return
    conn.execute(_joined(joined, spec), {"rows": json.dumps(
        [{"n": n} | {name: _value(row[name], kind) for name, kind in spec}
         for n, row in enumerate(rows)], default=_plain)})


def _as_json(table: sa.Table, columns: tuple[str, ...],
             rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    kinds = [(name, table.c[name].type if name != "row_id" else sa.BigInteger())
             for name in columns]
    return {"rows": json.dumps([{"n": n} | {name: _value(row[name], kind)
                                           for name, kind in kinds}
                                for n, row in enumerate(rows)], default=_plain)}


def _value(value: Any, kind: Any) -> Any:
    # A TypeDecorator's own conversion first (UTCDateTime: naive UTC), as SQLAlchemy would.
    if value is not None and isinstance(kind, sa.TypeDecorator) \
            and type(kind).process_bind_param is not sa.TypeDecorator.process_bind_param:
        return kind.process_bind_param(value, _PG)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {value!r}")


def _recordset(spec: list[tuple[str, Any]]) -> Any:
    """The ``rows`` parameter as a table ``v`` of typed columns and the ordinal ``n``."""
    columns = [sa.column("n", sa.Integer()), *(sa.column(name, kind) for name, kind in spec)]
    rows = sa.cast(sa.bindparam("rows", type_=sa.Text()), postgresql.JSON())
    return (sa.func.json_to_recordset(rows)
            .table_valued(*columns).render_derived(name="v", with_types=True))


def _pg_from_json(table: sa.Table, columns: tuple[str, ...]) -> postgresql.Insert:
    v = _recordset([(name, table.c[name].type) for name in columns])
    # Ids are drawn in the order of the rows (ORDER BY n): see service._insert_events.
    select = sa.select(*(v.c[name] for name in columns)).order_by(v.c.n)
    return postgresql.insert(table).from_select(list(columns), select)


@cache
def _insert(pg: Any, table: sa.Table, columns: tuple[str, ...],
            returning: tuple[str, ...]) -> sa.Insert:
    stmt = pg(table, columns) if pg is not None else sa.insert(table)
    return stmt.returning(*(table.c[name] for name in returning)) if returning else stmt


@cache
def _upsert(insert: Any, table: sa.Table, columns: tuple[str, ...],
            returning: tuple[str, ...]) -> sa.Insert:
    stmt = insert(table, columns) if insert is _pg_from_json else insert(table)
    updated = sorted(set(columns) - {"source", "external_id"})
    fresh = None
    if "source_updated_at" in columns:
        stored = table.c.source_updated_at
        fresh = stored.is_(None) | (stored <= stmt.excluded.source_updated_at)
    return stmt.on_conflict_do_update(
        index_elements=["source", "external_id"],
        set_={name: stmt.excluded[name] for name in updated}, where=fresh,
    ).returning(*(table.c[name] for name in returning))


@cache
def _update(table: sa.Table) -> sa.Update:
    return sa.update(table).where(table.c.id == sa.bindparam("row_id"))


@cache
def _update_from_json(table: sa.Table, columns: tuple[str, ...]) -> sa.Update:
    v = _recordset([("row_id", sa.BigInteger()), *((n, table.c[n].type) for n in columns)])
    return (sa.update(table).where(table.c.id == v.c.row_id)
            .values({name: v.c[name] for name in columns}))


@cache
def _joined(joined: Any, spec: tuple[tuple[str, Any], ...]) -> sa.Update:
    return joined(_recordset(list(spec)))  # type: ignore[no-any-return]
