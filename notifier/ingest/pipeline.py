"""PostgreSQL statements sent in pipeline mode, on a connection one writer holds.

    held = HeldConnection(engine)              # one per writer; inside greenlet_spawn:
    with held.transaction() as pipe:           # BEGIN ... COMMIT
        rows = pipe.read(select_stmt, params)  # queued, not waited for
        pipe.write(update_stmt, params)        # queued; its error surfaces at the next wait
        found = rows()                         # one round trip for everything queued so far
    held.close()

A batch of orders waited for about eleven round trips and its commit, on a server that
shares the machine's cores with the clients: each one a wake-up of the server and then of
the writer. Queued in psycopg's pipeline, the statements whose results are not read go
with the next that are, and the COMMIT with the last writes; a batch is then three round
trips. The statements are compiled once to their SQL text and go to the psycopg cursor
directly (SQLAlchemy's execution context was a third of the writer's Python), read rows
are tuples with attribute access; timestamps come back aware in UTC as
:class:`~notifier.store.types.UTCDateTime` returns them.

The connection is a psycopg ``AsyncConnection`` of a writer on the event loop
(``group_commit.py``), driven by this synchronous code from inside SQLAlchemy's
``greenlet_spawn``: each psycopg call is awaited through :func:`sqlalchemy.util.await_`,
so the loop serves requests while the server works and no second thread competes for
the interpreter.

The connection is the writer's own for as long as the writer lives (no pool checkout and
no pre-ping per batch) and runs in autocommit mode, so the transaction is the explicit
BEGIN and COMMIT queued with the statements. Any error (a statement refused, a lost
connection) propagates from the wait that meets it; the transaction is rolled back, or the
connection dropped if it is broken, and the next batch opens a new one. ``commit`` is only
waited for at the end: an answer given after :meth:`transaction` returns is durable.
"""

from __future__ import annotations

import contextlib
import logging
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg
from sqlalchemy.engine import Engine
from sqlalchemy.util import await_

log = logging.getLogger(__name__)

# Positional placeholders: psycopg's query conversion is cached for texts under 4 KB.
_DIALECT = pg_psycopg.dialect(paramstyle="format")

Rows = Callable[[], list[Any]]


@cache
def _compiled(statement: sa.Executable
              ) -> tuple[bytes, tuple[str, ...], dict[str, Callable[[], Any]], Any]:
    """SQL text, parameter names in placeholder order, what fills the parameters the
    caller does not give, and how a row is built (None for a statement returning
    nothing)."""
    compiled = statement.compile(dialect=_DIALECT)
    names = tuple(compiled.positiontup or ())
    # What the caller does not give: an insert's columns filled by their Python-side
    # default (``created_at``...), computed per execution, and the statement's own
    # constants; each converted as SQLAlchemy would.
    filled: dict[str, Callable[[], Any]] = {}
    for column in getattr(compiled, "insert_prefetch", ()):
        default, convert = column.default, _binder(column.type)
        if default is not None and default.is_callable:  # SQLAlchemy's wrapper takes a context
            filled[column.key] = lambda arg=default.arg, c=convert: c(arg(None))
        elif default is not None and default.is_scalar:
            filled[column.key] = lambda value=convert(default.arg): value
        else:
            raise NotImplementedError(f"a default the pipeline cannot give: {column}")
    for name in names:
        bind = compiled.binds[name]
        if name not in filled and not bind.required:
            filled[name] = lambda value=_binder(bind.type)(bind.effective_value): value
    columns = getattr(statement, "selected_columns", None)
    if columns is None:
        returning = getattr(statement, "_returning", ()) or ()
        columns = sa.select(*returning).selected_columns if returning else None
    if not columns:
        return compiled.string.encode(), names, filled, None
    keys = [column.key for column in columns]
    # psycopg returns the base types as SQLAlchemy would (Decimal, parsed JSON through the
    # engine's loader); only our own types convert (UTCDateTime: aware UTC).
    processors = [column.type.result_processor(_DIALECT, None)
                  if isinstance(column.type, sa.TypeDecorator) else None
                  for column in columns]
    row = namedtuple("Row", keys, rename=True)  # type: ignore[misc]
    converted = [(i, p) for i, p in enumerate(processors) if p is not None]
    return compiled.string.encode(), names, filled, (row, tuple(converted))


def _binder(kind: Any) -> Callable[[Any], Any]:
    process = kind.dialect_impl(_DIALECT).bind_processor(_DIALECT)
    return process if process is not None else (lambda value: value)


def _built(shape: Any, fetched: list[tuple[Any, ...]]) -> list[Any]:
    row, converted = shape
    if not converted:
        return [row._make(values) for values in fetched]
    out = []
    for values in fetched:
        values = list(values)
        for i, process in converted:
            values[i] = process(values[i])
        out.append(row._make(values))
    return out


class Pipe:
    """Statements of one transaction, queued on the held connection."""

    def __init__(self, conn: Any, held: HeldConnection) -> None:
        self.conn = conn
        self.held = held

    def read(self, statement: sa.Executable, params: Mapping[str, Any]) -> Rows:
        """Queue ``statement``; the returned function waits for its rows."""
        cursor = self._send(statement, params)
        shape = _compiled(statement)[3]
        return lambda: _built(shape, await_(cursor.fetchall()))

    def write(self, statement: sa.Executable, params: Mapping[str, Any]) -> None:
        """Queue ``statement``, its result not read (an error surfaces at the next wait)."""
        self._send(statement, params)

    def _send(self, statement: sa.Executable, params: Mapping[str, Any]) -> Any:
        sql, names, filled, _ = _compiled(statement)
        cursor = self.conn.cursor()
        if filled:
            params = {**{name: fill() for name, fill in filled.items()}, **params}
        await_(cursor.execute(sql, [params[name] for name in names]))
        self.held.sent += 1
        return cursor

    def command(self, sql: bytes) -> None:
        await_(self.conn.cursor().execute(sql, prepare=False))
        self.held.sent += 1


class HeldConnection:
    """A PostgreSQL connection of one writer, opened at its first transaction and kept in
    pipeline mode until closed (leaving the mode costs a round trip of its own); its
    methods run inside ``greenlet_spawn`` on the writer's event loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Any = None
        self._pipeline: Any = None
        self._mode: Any = None  # the pipeline's context manager, left when closed
        self.sent = 0  # statements sent, BEGIN and COMMIT included (tests, benches)

    @property
    def backend_pid(self) -> int | None:
        """The server process serving it, once connected (benches read its CPU)."""
        return self._conn.info.backend_pid if self._conn is not None else None

    def _connect(self) -> Any:
        import psycopg  # (not loaded by a SQLite process)

        # The engine's own connection arguments: its JSON loader included.
        args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        conn = self._conn = await_(psycopg.AsyncConnection.connect(*args, **kwargs,
                                                                   autocommit=True))
        try:
            # A raw payload (2.3 KB for an order) is compressed where it is stored: lz4
            # costs the server 0.45 ms per 24 of them, the default pglz 0.77 ms, and
            # takes a few percent more room. Values say how they were compressed, so any
            # connection reads them; a server built without lz4 keeps pglz.
            await_(conn.execute(b"SET default_toast_compression = lz4", prepare=False))
        except conn.Error as exc:
            log.info("ingest writer keeps the default TOAST compression: %s", exc)
        self._mode = conn.pipeline()
        self._pipeline = await_(self._mode.__aenter__())
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Pipe]:
        """BEGIN, the caller's statements, COMMIT waited for; rolled back on any error."""
        if self._conn is None or self._conn.closed:
            try:
                self._connect()
            except BaseException:
                self.close()
                raise
        pipe = Pipe(self._conn, self)
        try:
            pipe.command(b"BEGIN")
            yield pipe
            pipe.command(b"COMMIT")
            await_(self._pipeline.sync())
        except BaseException:
            self._abandon()
            raise

    def _abandon(self) -> None:
        """Roll back what the failed transaction left, or drop a connection that cannot."""
        conn = self._conn
        try:
            if not conn.broken and not conn.closed:
                # The results still queued behind the error, skipped by the server.
                with contextlib.suppress(conn.Error):
                    await_(self._pipeline.sync())
                await_(conn.cursor().execute(b"ROLLBACK", prepare=False))
                await_(self._pipeline.sync())
                return
        except Exception:  # the connection is not worth keeping
            log.warning("ingest writer connection dropped", exc_info=True)
        self.close()

    def close(self) -> None:
        conn, mode = self._conn, self._mode
        self._conn, self._pipeline, self._mode = None, None, None
        try:
            if conn is not None and not conn.broken and mode is not None:
                await_(mode.__aexit__(None, None, None))
        except Exception as exc:  # a connection lost meanwhile: nothing left to close
            log.debug("closing the ingest writer pipeline failed: %s", exc)
        try:
            if conn is not None:
                await_(conn.close())
        except Exception:
            log.warning("closing the ingest writer connection failed", exc_info=True)
