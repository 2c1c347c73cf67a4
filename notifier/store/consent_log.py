"""The consent audit trail: every change of a customer's word, and every refused one.

``consents`` holds each customer's current word per channel and purpose; this table keeps
how it got there — what was said, when the customer said it (``at``, None when the
sender gave no time), who told us (``source``: ``shopify``, ``api``, ``unsubscribe-link``),
when we recorded it, the inbound event that carried it, and whether it was ``applied``
or ``refused`` with the reason. It is what an operator shows a regulator
(``notifier consents history``); rows are only ever added.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, select

from notifier.store.types import UTCDateTime


class ConsentChange(SQLModel, table=True):
    """One word about a customer's consent that changed, or tried to change, the stored one."""

    __tablename__ = "consent_changes"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", ondelete="CASCADE", index=True)
    channel: str = Field(max_length=16)
    purpose: str = Field(max_length=16)
    granted: bool
    at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    source: str = Field(max_length=64)
    recorded_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    outcome: str = Field(max_length=16)  # applied, refused
    reason: str = Field(default="", max_length=255)
    event_id: int | None = Field(default=None, foreign_key="inbound_events.id",
                                 ondelete="SET NULL")


#: The stored time of a first word that came without one (``consents.at`` is required):
#: earlier than any real action, so any timed word of the customer's wins over it.
UNKNOWN_AT = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Word:
    """What a sender says about one channel and purpose; ``at`` is when the customer acted
    (None: the sender did not say)."""

    channel: str
    purpose: str
    granted: bool
    at: datetime | None
    source: str


@dataclass(frozen=True)
class Held:
    """The stored word."""

    granted: bool
    at: datetime
    source: str


@dataclass(frozen=True)
class Verdict:
    """``apply`` the word or not; ``log`` it (a change or a refusal, not a repeat)."""

    apply: bool
    log: bool
    reason: str = ""


def judge(held: Held | None, word: Word) -> Verdict:
    """Whether ``word`` may replace ``held``.

    A withdrawal is always honoured. A grant over a withdrawal needs evidence of the
    customer's own action newer than the withdrawal: a consent time strictly after it.
    A missing time never overrides a withdrawal; an older word never overrides a newer one.

        judge(Held(False, t1, "unsubscribe-link"), Word(..., granted=True, at=None, ...))
        -> Verdict(apply=False, log=True, reason="no consent time ...")
    """
    if held is None:
        return Verdict(True, True)
    if held.granted == word.granted:
        # The same word again (every order repeats it): not logged; a newer time is kept
        # so the customer's latest action is what a later word is compared with.
        return Verdict(word.at is not None and word.at > held.at, False)
    if word.at is not None and word.at < held.at:
        return Verdict(False, True, f"older than the stored word of {held.at.isoformat()}")
    if not word.granted:
        return Verdict(True, True)
    if word.at is None:
        return Verdict(False, True, "no consent time: an opt-out is reversed only by a "
                                    "newer action of the customer")
    if word.at <= held.at:
        return Verdict(False, True, "not newer than the opt-out of "
                                    f"{held.at.isoformat()}")
    return Verdict(True, True)


def stored_at(held: Held | None, word: Word, now: datetime) -> datetime:
    """The time to store with an applied word: the customer's, else :data:`UNKNOWN_AT` for a
    first word, else ``now`` (a timeless withdrawal over a grant: we know of it since now,
    so only an action after now reverses it)."""
    if word.at is not None:
        return word.at
    return UNKNOWN_AT if held is None else now


def log_change(session: Session, *, customer_id: int, word: Word, verdict: Verdict,
               now: datetime, event_id: int | None = None) -> None:
    """Add the word to the trail (inside the caller's transaction)."""
    session.connection().execute(sa.insert(ConsentChange.__table__), {  # type: ignore[attr-defined]
        "customer_id": customer_id, "channel": word.channel, "purpose": word.purpose,
        "granted": word.granted, "at": word.at, "source": word.source, "recorded_at": now,
        "outcome": "applied" if verdict.apply else "refused", "reason": verdict.reason[:255],
        "event_id": event_id,
    })


def history(session: Session, *, customer_id: int) -> list[ConsentChange]:
    """The customer's trail, oldest first."""
    return list(session.exec(select(ConsentChange)
                             .where(ConsentChange.customer_id == customer_id)
                             .order_by(col(ConsentChange.recorded_at), col(ConsentChange.id))))
