"""A lock held until the end of the current transaction, so that a check-then-write (the
first start storing the shipped templates, a publish checking the set it changes) is
done by one process at a time.

PostgreSQL takes a transaction-scoped advisory lock; SQLite needs nothing, as a writing
transaction (``transaction()``) begins IMMEDIATE and so already excludes other writers.
"""

from __future__ import annotations

import zlib

import sqlalchemy as sa
from sqlmodel import Session


def lock_until_commit(session: Session, name: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(name.encode())
        session.connection().execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                                     {"key": key})
