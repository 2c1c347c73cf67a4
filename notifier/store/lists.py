"""A column matched against a list of values: one statement text whatever the list's length.

    stmt = sa.select(t.c.id).where(among(conn, t.c.key, keys))           # values bound now
    stmt = sa.select(t.c.id).where(in_list(t.c.key, "keys", dialect))    # built once, then
    conn.execute(stmt, {"keys": keys})                                   # a list per call

Both build the same SQL, a semi-join over the list sent as ONE parameter:

- PostgreSQL: ``column IN (SELECT unnest(CAST(:p AS type[])))``, the list as one array
  literal the server casts. psycopg dumps a Python list element by element (0.5 µs an
  integer, 1.4 µs a string), several times what building the literal costs; and a
  semi-join, not ``= ANY(array)``: on a table its statistics called small (notifications at
  the start of a big tick) the planner chose a sequential scan testing every row against
  all 500 values, 0.2 s per batch once the table held a few thousand rows. Over an index
  the semi-join is a nested loop of index probes, one per distinct value.
- SQLite: ``column IN (SELECT value FROM json_each(:p))``, the list as one JSON text. Its
  ``IN (?, ?, ...)`` is a new statement for each length, which SQLAlchemy renders and
  SQLite prepares again (a third of detection's related-row reads).

Values are integers, strings or None, and on PostgreSQL also aware datetimes for a
:class:`~notifier.store.types.UTCDateTime` column; anything else raises TypeError there
when the statement runs (SQLite's list holds what JSON holds).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect

from notifier.store.types import UTCDateTime, utc_text


def among(conn: sa.Connection, column: sa.ColumnElement[Any],
          values: Collection[Any]) -> sa.ColumnElement[bool]:
    """``column`` is one of ``values``, on ``conn``'s database."""
    return _listed(column, sa.bindparam(None, list(values), type_=_List(_moments(column))),
                   conn.dialect.name)


def in_list(column: sa.ColumnElement[Any], name: str, dialect: str) -> sa.ColumnElement[bool]:
    """``column`` is one of the list given as parameter ``name`` when the statement runs
    (for a statement built once per ``dialect`` name and kept)."""
    return _listed(column, sa.bindparam(name, type_=_List(_moments(column))), dialect)


def _listed(column: sa.ColumnElement[Any], listed: sa.BindParameter[Any],
            dialect: str) -> sa.ColumnElement[bool]:
    if dialect == "postgresql":
        return column.in_(sa.select(sa.func.unnest(sa.cast(listed, ARRAY(column.type)))))
    return column.in_(sa.select(sa.column("value")).select_from(sa.func.json_each(listed)))


def _moments(column: sa.ColumnElement[Any]) -> bool:
    return isinstance(column.type, UTCDateTime)


class _List(sa.TypeDecorator[Any]):
    """A list of values as one text: an array literal on PostgreSQL, JSON elsewhere."""

    impl = sa.Text
    cache_ok = True

    def __init__(self, moments: bool) -> None:
        super().__init__()
        self.moments = moments  # the list holds aware datetimes of a UTCDateTime column

    def process_bind_param(self, value: Any, dialect: Dialect) -> str:
        values = list(value)
        if dialect.name != "postgresql":
            return json.dumps(values)
        literal = array_literal(values, moments=self.moments)
        if literal is None:
            raise TypeError(f"a list of {sorted({type(v).__name__ for v in values})}: only "
                            "integers, strings and (for a UTCDateTime column) datetimes")
        return literal


def pg_array(name: str | None, values: list[Any],
             kind: sa.types.TypeEngine[Any]) -> sa.ColumnElement[Any]:
    """``values`` as one PostgreSQL array parameter of ``kind``: the array literal the
    server casts when :func:`array_literal` can write it, else the list for psycopg."""
    literal = array_literal(values, moments=isinstance(kind, UTCDateTime))
    if literal is None:
        return sa.bindparam(name, values, type_=ARRAY(kind))
    return sa.cast(sa.bindparam(name, literal, type_=sa.Text), ARRAY(kind))


def array_literal(values: list[Any], *, moments: bool) -> str | None:
    """The PostgreSQL array literal of ``values`` ("{1,NULL,3}", '{"a","b\\"c"}'; aware
    datetimes as naive UTC when ``moments``), or None when a value is of a type not
    written here."""
    kinds = {type(v) for v in values}
    if kinds <= {int}:
        return "{" + ",".join(map(str, values)) + "}"
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
