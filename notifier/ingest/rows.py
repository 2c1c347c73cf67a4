"""Many rows in one statement, on either database: inserts, upserts and updates by id.

SQLite gets a multi-row INSERT and an executemany UPDATE (both cheap there). PostgreSQL
gets the rows as ONE JSON parameter, turned back into typed rows by the server
(``INSERT ... SELECT FROM json_to_recordset(...)``, ``UPDATE ... FROM json_to_recordset``):
the statement text is the same whatever the number of rows, so psycopg parses it once,
where a multi-row VALUES list (thousands of placeholders, over psycopg's 4 KB statement
cache) was parsed again for every batch, an executemany sent one prepared statement per
row, and text arrays had every quote of every payload escaped in Python.

On SQLite each statement is compiled once to its SQL text, the parameter of each
placeholder and that parameter's bind processor (:class:`_Plan`); a batch's rows become
tuples converted by those processors and go to the driver as they are
(``exec_driver_sql``). SQLAlchemy's own executemany built a parameter dictionary per row
and ran every processor through it: a third of the writer's CPU per order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from notifier.store.types import UTCDateTime, utc_text

_PG = postgresql.dialect()
_SQLITE = sqlite.dialect()


def insert_many(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
                returning: tuple[str, ...] = ()) -> list[sa.Row[Any]]:
    """Insert ``rows`` (all with the same keys); the ``returning`` columns of each, in no
    particular order (match them by a key, or sort ids: see service._insert_events)."""
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        result = conn.execute(*pg_insert(table, rows, returning))
        return list(result) if returning else []
    columns = tuple(rows[0])
    return _sqlite(conn, _insert(None, table, columns, returning), columns, rows,
                   many_values=bool(returning))


def upsert_many(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]],
                returning: tuple[str, ...]) -> list[sa.Row[Any]]:
    """Insert ``rows``; a row whose (source, external_id) exists updates it instead, unless
    the stored ``source_updated_at`` is later (when the rows carry one): that row is
    neither written nor returned. On PostgreSQL ``returning`` may name :data:`INSERTED`:
    whether the row was inserted rather than updated."""
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        return list(conn.execute(*pg_upsert(table, rows, returning)))
    columns = tuple(rows[0])
    return _sqlite(conn, _upsert(sqlite.insert, table, columns, returning), columns, rows,
                   many_values=True)


def update_many(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Update rows by id: each of ``rows`` has ``row_id`` and the same other keys."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        _sqlite(conn, _update(table), tuple(rows[0]), rows, many_values=False)
        return
    conn.execute(*pg_update(table, rows))


def update_joined(conn: sa.Connection, statement: sa.Update, spec: tuple[tuple[str, Any], ...],
                  rows: Sequence[dict[str, Any]], joined: Any) -> None:
    """``statement`` (parameters named as in ``rows``) for every row: an executemany on
    SQLite; on PostgreSQL one UPDATE joined to the rows, built by ``joined(v)`` from the
    table ``v`` of the ``spec`` (name, type) columns."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        _sqlite(conn, statement, tuple(rows[0]), rows, many_values=False)
        return
    conn.execute(*pg_update_joined(spec, rows, joined))


# -- PostgreSQL: each statement and its one parameter, for a connection or a pipeline ----

PgStatement = tuple[sa.Executable, dict[str, str]]


def pg_insert(table: sa.Table, rows: Sequence[dict[str, Any]],
              returning: tuple[str, ...] = ()) -> PgStatement:
    """:func:`insert_many`'s statement on PostgreSQL and its parameters (``rows`` not empty)."""
    columns = tuple(rows[0])
    return _insert(_pg_from_json, table, columns, returning), _as_json(table, columns, rows)


def pg_upsert(table: sa.Table, rows: Sequence[dict[str, Any]],
              returning: tuple[str, ...]) -> PgStatement:
    """:func:`upsert_many`'s statement on PostgreSQL and its parameters."""
    columns = tuple(rows[0])
    return _upsert(_pg_from_json, table, columns, returning), _as_json(table, columns, rows)


def pg_update(table: sa.Table, rows: Sequence[dict[str, Any]]) -> PgStatement:
    """:func:`update_many`'s statement on PostgreSQL and its parameters."""
    columns = tuple(name for name in rows[0] if name != "row_id")
    return _update_from_json(table, columns), _as_json(table, ("row_id", *columns), rows)


def pg_update_joined(spec: tuple[tuple[str, Any], ...], rows: Sequence[dict[str, Any]],
                     joined: Any) -> PgStatement:
    """:func:`update_joined`'s statement on PostgreSQL and its parameters."""
    return _joined(joined, spec), {"rows": json.dumps(
        [{"n": n} | {name: _value(row[name], kind) for name, kind in spec}
         for n, row in enumerate(rows)], default=_plain)}


@dataclass(frozen=True)
class _Plan:
    """A statement compiled for SQLite's driver: its SQL (one row of VALUES for an
    insert), the name of each placeholder's parameter with its bind processor, and the
    parameters the rows do not carry: an insert's columns filled by their Python-side
    default (``created_at``...) and the statement's own constants."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    filled: tuple[tuple[str, Callable[[], Any]], ...]
    values: str  # the one row of VALUES that a multi-row insert repeats, or ""


def _sqlite(conn: sa.Connection, statement: sa.Executable, columns: tuple[str, ...],
            rows: Sequence[dict[str, Any]], *, many_values: bool) -> list[sa.Row[Any]]:
    """``statement`` for each of ``rows`` (all with ``columns``): one multi-row INSERT
    with its RETURNING rows (``many_values``), else one executemany."""
    plan = _plan(statement, columns)
    params = []
    for row in rows:
        if plan.filled:
            row = {**row, **{name: fill() for name, fill in plan.filled}}
        params.append(tuple(row[name] if convert is None else convert(row[name])
                            for name, convert in zip(plan.names, plan.processors, strict=True)))
    if not many_values:
        conn.exec_driver_sql(plan.sql, params)
        return []
    dialect = conn.dialect
    page = max(1, min(dialect.insertmanyvalues_page_size,
                      dialect.insertmanyvalues_max_parameters // max(1, len(plan.names))))
    out: list[sa.Row[Any]] = []
    for start in range(0, len(params), page):
        chunk = params[start:start + page]
        out += conn.exec_driver_sql(_many_values(plan, len(chunk)),
                                    tuple(v for row in chunk for v in row)).all()
    return out


@cache
def _plan(statement: sa.Executable, columns: tuple[str, ...]) -> _Plan:
    compiled = statement.compile(dialect=_SQLITE, column_keys=list(columns))
    if getattr(compiled, "update_prefetch", None):
        raise NotImplementedError(f"Python-side onupdate: {statement}")
    names = tuple(compiled.positiontup or ())
    processors = tuple(compiled.binds[name].type.dialect_impl(_SQLITE).bind_processor(_SQLITE)
                       for name in names)
    filled: dict[str, Callable[[], Any]] = {}
    for column in getattr(compiled, "insert_prefetch", ()):
        default = column.default
        if default is not None and default.is_callable:  # SQLAlchemy's wrapper takes a context
            filled[column.key] = lambda arg=default.arg: arg(None)
        elif default is not None and default.is_scalar:
            filled[column.key] = lambda value=default.arg: value
        else:
            raise NotImplementedError(f"a default SQLite cannot be given: {column}")
    for name in set(names) - set(columns) - set(filled):
        filled[name] = lambda value=compiled.binds[name].effective_value: value
    values = "(" + ", ".join("?" * len(names)) + ")"
    rest = compiled.string.partition(" VALUES ")[2]
    return _Plan(compiled.string, names, processors, tuple(filled.items()),
                 values if rest.startswith(values) else "")


@cache
def _many_values(plan: _Plan, count: int) -> str:
    """The plan's insert with ``count`` rows of VALUES."""
    if not plan.values:
        raise NotImplementedError(f"not an insert of one row of VALUES: {plan.sql}")
    head, _, rest = plan.sql.partition(" VALUES ")
    return f"{head} VALUES {', '.join([plan.values] * count)}{rest[len(plan.values):]}"


def key_in(column: sa.ColumnElement[Any], name: str, dialect: str) -> sa.ColumnElement[bool]:
    """``column`` is one of the list parameter ``name``: ``= ANY(array)`` on PostgreSQL, a
    statement text that does not change with the length of the list (psycopg prepares
    it; an expanding IN was rendered and parsed again for every batch); an expanding IN
    elsewhere."""
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(sa.bindparam(name, expanding=True))


def _as_json(table: sa.Table, columns: tuple[str, ...],
             rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    converters = _json_converters(table, columns)
    return {"rows": json.dumps([
        {"n": n} | {name: row[name] if convert is None or row[name] is None
                    else convert(row[name]) for name, convert in converters}
        for n, row in enumerate(rows)], default=_plain)}


@cache
def _json_converters(table: sa.Table,
                     columns: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    return tuple((name, _converter(table.c[name].type if name != "row_id" else sa.BigInteger()))
                 for name in columns)


def _converter(kind: Any) -> Any:
    """What turns a column's value into what ``json_to_recordset`` reads back, or None
    for a value JSON holds as it is (a Decimal or a datetime nested in a JSON column is
    still caught by :func:`_plain`)."""
    if isinstance(kind, UTCDateTime):
        return utc_text  # naive UTC, as UTCDateTime binds it
    if isinstance(kind, sa.TypeDecorator) \
            and type(kind).process_bind_param is not sa.TypeDecorator.process_bind_param:
        return lambda value: _plain_or_value(kind.process_bind_param(value, _PG))
    if isinstance(kind, sa.Numeric):
        return lambda value: str(value) if isinstance(value, Decimal) else value
    return None


def _plain_or_value(value: Any) -> Any:
    return _plain(value) if isinstance(value, (datetime, Decimal)) else value


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
    ).returning(*(table.c[name] if name != INSERTED else _inserted(table)
                  for name in returning))


INSERTED = "inserted"  # what upsert_many can return on PostgreSQL: the row was new


def _inserted(table: sa.Table) -> Any:
    # A row the upsert inserted has no deleting transaction yet; one it updated has ours.
    return sa.literal_column(f"{table.name}.xmax = 0", sa.Boolean()).label(INSERTED)


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
