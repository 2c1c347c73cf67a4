"""Engine and session factory. Nothing is created at import time."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

WRITE_OPTION = "notifier_writes"
WRITE_LOCK = "notifier_write_lock"

_T = TypeVar("_T")


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine tuned per backend.

    SQLite gets WAL (readers never block the one writer), a busy timeout instead of
    instant "database is locked" errors, foreign keys on, and ``synchronous=FULL``: every
    commit is fsynced before it returns, so a webhook we acknowledged survives a power
    loss (with NORMAL the last commits of a WAL can vanish, and Shopify does not redeliver
    what we acknowledged). The cost is measured in README "Performance". The parent folder of a
    SQLite file is created so the embedded default works on a fresh clone.
    """
    url_obj = sa.make_url(url)
    if url_obj.get_backend_name() == "sqlite":
        if url_obj.database and url_obj.database != ":memory:":
            Path(url_obj.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30},
            json_deserializer=_json_loads,
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return sa.create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10,
                            json_deserializer=_json_loads)


_EMPTY = frozenset({"[]", b"[]"})


def _json_loads(text: str | bytes) -> object:
    # Most JSON columns read in bulk hold an empty list (an order's discount codes, a
    # customer's push subscriptions): a new [] without the decoder's ten times the cost.
    # psycopg hands over bytes, SQLite a str.
    return [] if text in _EMPTY else json.loads(text)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _sqlite_begin_immediate).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin_immediate(conn) -> None:  # type: ignore[no-untyped-def]
    # A unit of work (``transaction``) says BEGIN IMMEDIATE and takes the write lock up
    # front: two writers queue on the busy timeout instead of deadlocking when both
    # upgrade from a read lock. Read-only sessions begin deferred and, under WAL, never
    # wait for a writer.
    writes = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    info: dict[str, object] = {}
    if engine.dialect.name == "sqlite":
        # SQLite has one writer. Threads of one process queue on this lock instead of on
        # SQLite's busy handler, which sleeps in growing steps (1, 2, 5, 10 ms...) and
        # made concurrent sends wait several times longer than the writes themselves.
        # Reentrant: a writer on the event loop takes it first (run_write).
        info[WRITE_LOCK] = threading.RLock()
    return sessionmaker(engine, class_=Session, expire_on_commit=False, info=info)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work that writes: commit on success, roll back on any error."""
    lock = factory.kw.get("info", {}).get(WRITE_LOCK)
    with lock or nullcontext(), factory() as session, session.begin():
        session.connection(execution_options={WRITE_OPTION: True})
        yield session


async def run_write(factory: sessionmaker[Session], write: Callable[..., _T], *args: Any) -> _T:
    """``write(*args)``, called on the event loop if this thread takes the process's SQLite
    write lock without waiting (held around the call; ``transaction`` inside takes it again:
    it is reentrant), in a worker thread otherwise.

    Ingest's and dispatch's group commits write through this: a SQLite transaction waits
    for nothing but its own fsync, and a worker thread would trade the interpreter lock
    with the loop in the middle of it, which cost more CPU than the writes. Another
    thread writing, or PostgreSQL (whose statements wait for the network, and which has
    no such lock), sends it to a worker thread, so the loop never waits.
    """
    lock = factory.kw.get("info", {}).get(WRITE_LOCK)
    if lock is not None and lock.acquire(blocking=False):
        try:
            return write(*args)
        finally:
            lock.release()
    return await asyncio.to_thread(write, *args)


def settle(answers: Iterable[tuple[asyncio.Future[Any], object]]) -> None:
    """A group commit's other end: each waiting future gets its result, or raises it when
    the result is an exception; one already done (its caller went away) is left as it is."""
    for future, answer in answers:
        if future.done():
            continue
        if isinstance(answer, BaseException):
            future.set_exception(answer)
        else:
            future.set_result(answer)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def dialect_insert(session: Session) -> Callable[[sa.Table], postgresql.Insert | sqlite.Insert]:
    """The backend's ``insert``, the one with ``on_conflict_do_nothing/do_update`` and
    ``excluded`` (spelled alike on SQLite and PostgreSQL)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
