"""Statements over many rows on SQLite, sent to the driver as converted tuples.

    plan = compiled(sqlite.insert(table).on_conflict_do_nothing(index_elements=["key"]),
                    ("rule", "key", ...))
    for result in insert_rows(conn, plan, by_columns(plan, columns, rows)):
        inserted += result.rowcount

A statement is compiled once per statement and column set (:func:`compiled`, a
:class:`Plan`): its SQL text, the parameter of each placeholder with that parameter's bind
processor, and what the rows do not carry (columns filled by their Python-side default,
the statement's own constants). Rows become tuples converted by those processors and go
to the driver as they are (``exec_driver_sql``): SQLAlchemy's own executemany built a
parameter dictionary per row and ran every processor through it, which cost more than
SQLite's insert itself.

An INSERT of many rows is one statement of many rows of VALUES (:func:`insert_rows`), not
an executemany: SQLite opens a statement journal for each statement on a table with
triggers (the report roll-up's), which cost more than the row itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

_SQLITE = sqlite.dialect()

#: Rows in the largest multi-row INSERT.
_ROWS = 256

Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class Plan:
    """A statement compiled for SQLite's driver.

    ``sql`` has one row of VALUES for an insert (``values``, which a multi-row insert
    repeats; "" for other statements); ``names`` and ``processors`` are each placeholder's
    parameter and its bind processor (None: as it is); ``filled`` the parameters the rows
    do not carry, each with what gives its value.
    """

    sql: str
    names: tuple[str, ...]
    processors: tuple[Convert | None, ...]
    filled: tuple[tuple[str, Callable[[], Any]], ...]
    values: str


@cache
def compiled(statement: sa.Executable, columns: tuple[str, ...]) -> Plan:
    """``statement`` compiled for rows that carry ``columns`` (kept: pass statements that
    are built once, not one per call)."""
    done = statement.compile(dialect=_SQLITE, column_keys=list(columns))
    if getattr(done, "update_prefetch", None):
        raise NotImplementedError(f"Python-side onupdate: {statement}")
    names = tuple(done.positiontup or ())
    processors = tuple(done.binds[name].type.dialect_impl(_SQLITE).bind_processor(_SQLITE)
                       for name in names)
    filled: dict[str, Callable[[], Any]] = {}
    for column in getattr(done, "insert_prefetch", ()):
        default = column.default
        if default is not None and default.is_callable:  # SQLAlchemy's wrapper takes a context
            filled[column.key] = lambda arg=default.arg: arg(None)
        elif default is not None and default.is_scalar:
            filled[column.key] = lambda value=default.arg: value
        else:
            raise NotImplementedError(f"a default SQLite cannot be given: {column}")
    for name in set(names) - set(columns) - set(filled):
        filled[name] = lambda value=done.binds[name].effective_value: value
    values = "(" + ", ".join("?" * len(names)) + ")"
    rest = done.string.partition(" VALUES ")[2]
    return Plan(done.string, names, processors, tuple(filled.items()),
                values if rest.startswith(values) else "")


def by_rows(plan: Plan, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """The parameters of ``rows`` (mappings holding the plan's columns), each value
    converted by its processor."""
    params = []
    for row in rows:
        if plan.filled:
            row = {**row, **{name: fill() for name, fill in plan.filled}}
        params.append(tuple(row[name] if convert is None else convert(row[name])
                            for name, convert in zip(plan.names, plan.processors, strict=True)))
    return params


def by_columns(plan: Plan, columns: Sequence[str],
               rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The parameters of ``rows`` (tuples in the order of ``columns``), converted a column
    at a time, each distinct value of a column once: for batches whose columns repeat a
    handful of values (the rule, the moment, the status). Equal values must convert alike
    (true of UTC datetimes and of JSON lists of strings)."""
    if not rows:
        return []
    by_name = dict(zip(columns, zip(*rows, strict=True), strict=True))
    filled = dict(plan.filled)
    out = []
    for name, convert in zip(plan.names, plan.processors, strict=True):
        fill = filled.get(name)
        if fill is None:
            out.append(converted(by_name[name], convert))
        else:
            out.append(converted([fill() for _ in rows], convert))
    return list(zip(*out, strict=True))


def converted(values: Sequence[Any], convert: Convert | None) -> list[Any]:
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


def execute_many(conn: sa.Connection, plan: Plan, params: list[tuple[Any, ...]]) -> None:
    """The plan's statement once per tuple of ``params`` (the driver's executemany)."""
    conn.exec_driver_sql(plan.sql, params)  # type: ignore[arg-type]


def insert_rows(conn: sa.Connection, plan: Plan,
                params: Sequence[tuple[Any, ...]]) -> Iterator[sa.CursorResult[Any]]:
    """The plan's insert for every tuple of ``params``, as few multi-row INSERTs as fit
    SQLite's limit on variables; each statement's result in turn (read it, its RETURNING
    rows or its rowcount, before taking the next).

    Statement sizes are powers of two (256, 128, ... 1 rows), so a connection's statement
    cache holds a few texts per statement rather than one per batch length (of up to
    ~1 MB each, prepared again each time).
    """
    if not plan.values:
        raise NotImplementedError(f"not an insert of one row of VALUES: {plan.sql}")
    start = 0
    for size in chunks(len(params), limit=variables(conn) // max(1, len(plan.names))):
        chunk = params[start:start + size]
        start += size
        yield conn.exec_driver_sql(many_values(plan, size),
                                   tuple(v for row in chunk for v in row))


@cache
def many_values(plan: Plan, count: int) -> str:
    """The plan's insert with ``count`` rows of VALUES (their parameters one flat tuple,
    row after row)."""
    head, _, rest = plan.sql.partition(" VALUES ")
    return f"{head} VALUES {', '.join([plan.values] * count)}{rest[len(plan.values):]}"


def expanded(plan: Plan, params: tuple[Any, ...], name: str) -> tuple[str, tuple[Any, ...]]:
    """The plan's statement and ``params`` (one tuple of :func:`by_rows` or
    :func:`by_columns`) with the expanding parameter ``name`` (an ``IN`` list) written out
    as one placeholder per value; not for an empty list. The list's values go as they are:
    for ids, which SQLite's driver takes without a processor."""
    at = plan.names.index(name)
    values = params[at]
    return _in_list(plan, name, len(values)), (*params[:at], *values, *params[at + 1:])


@cache
def _in_list(plan: Plan, name: str, count: int) -> str:
    """The plan's SQL with ``count`` placeholders in the list of ``name``."""
    return plan.sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join("?" * count))


def variables(conn: sa.Connection) -> int:
    """How many parameters this SQLite build binds in one statement (32766 since 3.32)."""
    raw = conn.connection.dbapi_connection
    return raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[union-attr]


def chunks(count: int, *, limit: int) -> list[int]:
    """Row counts of the multi-row INSERTs for ``count`` rows: powers of two, the largest
    at most 256 and at most ``limit``, the largest first."""
    top = 1 << (min(_ROWS, max(limit, 1)).bit_length() - 1)
    sizes = []
    while count:
        size = min(top, 1 << (count.bit_length() - 1))
        sizes.append(size)
        count -= size
    return sizes
