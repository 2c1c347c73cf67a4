"""``Idempotency-Key`` records of the JSON API: one per (scope, key), with the body's hash.

The scope is the API key (by fingerprint, never the key itself) and the endpoint, so two
integrations, or one integration on two endpoints, never collide. The row is written in
the same transaction as the request's records: the key exists exactly when its answer
does. A request that was refused stores no key, so a corrected retry gets through
(Stripe does the same for requests that fail validation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, select

from notifier.store.tables import InboundEvent
from notifier.store.types import UTCDateTime


class IdempotencyKey(SQLModel, table=True):
    """A key a client sent, what body came with it, and which event answered it."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("scope", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=96)
    key: str = Field(max_length=255)
    body_sha256: str = Field(max_length=64)
    event_id: int | None = Field(default=None, foreign_key="inbound_events.id",
                                 ondelete="SET NULL")
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


@dataclass(frozen=True)
class FirstAnswer:
    """What the first request under a key was answered (``outcome``, ``event_id``)."""

    body_sha256: str
    outcome: str
    event_id: int | None


def first_answer(session: Session, *, scope: str, key: str, now: datetime,
                 ttl: timedelta) -> FirstAnswer | None:
    """The live record of ``key`` in ``scope``, or None (never used, or expired)."""
    row = session.exec(select(IdempotencyKey).where(
        IdempotencyKey.scope == scope, IdempotencyKey.key == key,
        IdempotencyKey.created_at > now - ttl)).first()
    if row is None:
        return None
    event = session.get(InboundEvent, row.event_id) if row.event_id is not None else None
    return FirstAnswer(row.body_sha256, event.outcome if event else "applied", row.event_id)


def remember(session: Session, *, scope: str, key: str, body_sha256: str, event_id: int,
             now: datetime, ttl: timedelta) -> None:
    """Record the key, first deleting the scope's expired keys (this one among them, so
    an expired key starts afresh and the table stays the size of one ``ttl``).

    A concurrent request with the same live key makes the insert fail on the unique
    constraint; the caller then answers with the first one's result."""
    session.exec(sa.delete(IdempotencyKey).where(  # type: ignore[call-overload]
        IdempotencyKey.scope == scope, IdempotencyKey.created_at <= now - ttl))
    session.add(IdempotencyKey(scope=scope, key=key, body_sha256=body_sha256,
                               event_id=event_id, created_at=now))
    session.flush()


def first_answers(session: Session, *, keys: list[tuple[str, str]]
                  ) -> dict[tuple[str, str], tuple[FirstAnswer, datetime]]:
    """:func:`first_answer` for many (scope, key) pairs in one query, each with the time it
    was created (live when later than the caller's ``now - ttl``)."""
    k, e = IdempotencyKey.__table__.c, InboundEvent.__table__.c  # type: ignore[attr-defined]
    stmt = (sa.select(k.scope, k.key, k.body_sha256, k.event_id, k.created_at, e.outcome)
            .outerjoin(InboundEvent.__table__, e.id == k.event_id)  # type: ignore[attr-defined]
            .where(sa.tuple_(k.scope, k.key).in_(sorted(set(keys)))))
    return {(row.scope, row.key): (FirstAnswer(row.body_sha256, row.outcome or "applied",
                                               row.event_id), row.created_at)
            for row in session.connection().execute(stmt)}
