"""Leases on singleton work: one worker at a time runs it, and a dead worker's lease lapses.

    if take_lease(sessions, "baselinker", owner=worker, now=now, ttl=timedelta(minutes=5)):
        await poller.poll(now)

The ``locks`` row is taken with a conditional UPDATE (free, lapsed or already ours) or,
the first time, an INSERT that only one worker can win; the database arbitrates, so it
holds across processes and machines on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, or_

from notifier.store.db import transaction
from notifier.store.tables import Lock


def take_lease(factory: sessionmaker[Session], name: str, *, owner: str, now: datetime,
               ttl: timedelta) -> bool:
    try:
        with transaction(factory) as session:
            taken = session.execute(
                sa.update(Lock).where(col(Lock.name) == name,
                                      or_(col(Lock.until) < now, col(Lock.owner) == owner))
                .values(owner=owner, until=now + ttl))
            if taken.rowcount:  # type: ignore[attr-defined]
                return True
            if session.get(Lock, name) is not None:
                return False
            session.add(Lock(name=name, owner=owner, until=now + ttl))
        return True
    except IntegrityError:
        return False  # another worker inserted the row first
