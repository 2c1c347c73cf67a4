"""Statements over a whole scan batch: one statement, one round trip, on either backend.

A batch holds hundreds of rows. On PostgreSQL the batch's values travel as arrays
(``= ANY(:ids)``, ``unnest(:a, :b, ...)``): a short statement psycopg prepares once,
instead of a statement with thousands of placeholders that psycopg rewrites in Python on
every execution (that rewrite alone took most of a tick). SQLite takes a list as one JSON
text (``IN (SELECT value FROM json_each(:ids))``, again one statement text whatever the
batch size) and writes through the driver's executemany of plain tuples, which it runs
in C.

Rows to write are tuples in the order of a ``columns`` list, and values are converted
for the database column by column: most columns of a batch repeat a handful of values
(the rule, the moment, the status), so each distinct value is converted once.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from notifier.store.types import UTCDateTime, utc_text

Row = tuple[Any, ...]


def _postgres(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def among(conn: sa.Connection, column: sa.ColumnElement[Any],
          values: Collection[Any]) -> sa.ColumnElement[bool]:
    """``column`` is one of ``values``: ``IN`` over the unnested array on PostgreSQL, over
    ``json_each`` on SQLite (its ``IN (?, ?, ...)`` is a new statement for each length,
    which SQLAlchemy renders and SQLite prepares again: a third of the related-row reads).

    A semi-join, not ``= ANY(array)``: on a table its statistics call small (notifications
    at the start of a big tick) PostgreSQL chose a sequential scan testing every row
    against all 500 values, 0.2 s per batch once the table held a few thousand rows.
    """
    if _postgres(conn):
        return column.in_(sa.select(sa.func.unnest(pg_array(None, list(values), column.type))))
    listed = sa.func.json_each(sa.bindparam(None, json.dumps(list(values)), type_=sa.Text))
    return column.in_(sa.select(sa.column("value")).select_from(listed))


def _converter(conn: sa.Connection, column: sa.Column[Any]) -> Callable[[Any], Any] | None:
    """The column type's bind processor for this connection's dialect (None: as is)."""
    return column.type.dialect_impl(conn.dialect).bind_processor(  # type: ignore[no-any-return]
        conn.dialect)


def _converted(values: Sequence[Any], convert: Callable[[Any], Any] | None) -> list[Any]:
    """``values`` through ``convert``, each distinct value once (lists count by content)."""
    if convert is None:
        return list(values)
    done: dict[Any, Any] = {None: None}
    out = []
    for value in values:
        key = tuple(value) if type(value) is list else value
        if key not in done:
            done[key] = convert(value)
        out.append(done[key])
    return out


def pg_array(name: str | None, values: list[Any],
             kind: sa.types.TypeEngine[Any]) -> sa.ColumnElement[Any]:
    """``values`` as one PostgreSQL array parameter of ``kind``.

    Integers, strings and (for a UTCDateTime column) aware datetimes travel as one array
    literal the server casts: psycopg dumps a list in Python element by element, 0.5 µs an
    integer and 1.4 µs a string, several times what building the literal costs. Anything
    else goes as a list.
    """
    literal = _array_literal(values, kind)
    if literal is None:
        return sa.bindparam(name, values, type_=ARRAY(kind))
    return sa.cast(sa.bindparam(name, literal, type_=sa.Text), ARRAY(kind))


def _array_literal(values: list[Any], kind: sa.types.TypeEngine[Any]) -> str | None:
    """The array literal of ``values`` ("{1,NULL,3}", '{"a","b\\"c"}'), or None when a value
    is of a type not written here."""
    kinds = {type(v) for v in values}
    if kinds <= {int}:
        return "{" + ",".join(map(str, values)) + "}"
    moments = isinstance(kind, UTCDateTime)
    items = []
    for value in values:
        if value is None:
            items.append("NULL")
        elif type(value) is int:
            items.append(str(value))
        elif type(value) is str:
            items.append('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif moments and type(value) is datetime:
            items.append(f'"{utc_text(value)}"')
        else:
            return None
    return "{" + ",".join(items) + "}"


def insert_new(conn: sa.Connection, table: sa.Table, columns: Sequence[str],
               rows: Sequence[Row], *, key: str,
               count_by: tuple[str, ...]) -> Counter[tuple[Any, ...]]:
    """Insert ``rows`` (tuples of ``columns``' values), skipping any whose ``key`` is
    taken, and count the rows really inserted by their ``count_by`` values.

    A conflicting row is decided by the database (on PostgreSQL a concurrent insert of
    the same key waits for the other transaction, then does nothing), so two workers can
    never both create one. PostgreSQL says which rows were new with RETURNING; SQLite (one
    writer, the batch holds the write lock) with the row count of an executemany per group.
    """
    if not rows:
        return Counter()
    if _postgres(conn):
        return _pg_insert_new(conn, table, columns, rows, key=key, count_by=count_by)
    defaults = {c.name: c.default.arg for c in table.c  # type: ignore[attr-defined]
                if c.name not in columns and c.default is not None and c.default.is_scalar}
    names = [*columns, *defaults]
    quote = conn.dialect.identifier_preparer.quote
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in names)}) VALUES "
    one = f"({', '.join('?' for _ in names)})"
    tail = f" ON CONFLICT ({quote(key)}) DO NOTHING"
    # The columns' own bind processors (JSON, UTC datetimes), a column at a time:
    # SQLAlchemy's per-row parameter handling cost more than SQLite's insert itself.
    by_column = list(zip(*rows, strict=True))
    converted = [_converted(values, _converter(conn, table.c[name]))
                 for name, values in zip(columns, by_column, strict=True)]
    converted += [[_converted([value], _converter(conn, table.c[name]))[0]] * len(rows)
                  for name, value in defaults.items()]
    groups: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    at = [columns.index(c) for c in count_by]
    for row, params in zip(rows, zip(*converted, strict=True), strict=True):
        groups[tuple(row[i] for i in at)].append(params)
    counts: Counter[tuple[Any, ...]] = Counter()
    for group, params in groups.items():
        start = 0
        for size in _chunks(len(params), limit=_variables(conn) // len(names)):
            chunk = params[start:start + size]
            start += size
            sql = f"{head}{', '.join([one] * size)}{tail}"
            inserted = conn.exec_driver_sql(sql, tuple(v for p in chunk for v in p)).rowcount
            if inserted > 0:
                counts[group] += inserted
    return counts


#: Rows in the largest multi-row INSERT on SQLite.
_SQLITE_ROWS = 256


def _variables(conn: sa.Connection) -> int:
    """How many parameters this SQLite build binds in one statement (32766 since 3.32)."""
    raw = conn.connection.dbapi_connection
    return raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[union-attr]


def _chunks(count: int, *, limit: int) -> list[int]:
    """Row counts of the multi-row INSERTs for ``count`` rows on SQLite.

    One statement for many rows, not an executemany: SQLite opens a statement journal for
    each statement on a table with triggers (the roll-up's), which cost more than the row
    itself. Sizes are powers of two (256, 128, ... 1, at most ``limit``), so a connection's
    statement cache holds a few texts per table rather than one of ~1 MB per batch length.
    """
    top = 1 << (min(_SQLITE_ROWS, max(limit, 1)).bit_length() - 1)
    sizes = []
    while count:
        size = min(top, 1 << (count.bit_length() - 1))
        sizes.append(size)
        count -= size
    return sizes


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
            listed, kind = _converted(listed, json.dumps), sa.Text()
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
    target = table.c[column]
    if not _postgres(conn):
        quote = conn.dialect.identifier_preparer.quote
        ids, new = zip(*values, strict=True)
        conn.exec_driver_sql(
            f"UPDATE {quote(table.name)} SET {quote(column)} = ? WHERE id = ?",
            list(zip(_converted(new, _converter(conn, target)), ids, strict=True)))
        return
    ids = pg_array("ids", [i for i, _ in values], table.c.id.type)
    new = pg_array("values", [v for _, v in values], target.type)
    pairs = sa.func.unnest(ids, new).table_valued("row_id", "value").render_derived()
    conn.execute(sa.update(table).where(table.c.id == pairs.c.row_id)
                 .values({column: pairs.c.value}))
