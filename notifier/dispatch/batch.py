"""What the dispatcher decides per outbox row (plans), and what it loads to decide a batch.

Deciding only reads: a plan says what to write or send; the dispatcher writes the plans
that need no provider together, and each send in the transaction that begins its attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from notifier.compose import RenderContext
from notifier.compose.recipients import email_of, phone_of, push_subscription_of
from notifier.domain import Channel, Facts, Kind, Outgoing
from notifier.store import outbox
from notifier.store.facts import facts_of
from notifier.store.lists import among
from notifier.store.snapshots import ENTITY_TABLES
from notifier.store.tables import DeliveryAttempt, Notification
from notifier.transit.model import TransitModel


@dataclass(frozen=True)
class Finish:
    """The row ends (or waits) without a provider call.

    ``escalate`` hands the case to a person in the same transaction; ``close_attempt``
    completes an attempt a lost worker left open (as ``unknown``); ``void`` withdraws the
    row's offer (the message certainly did not go).
    """

    status: str
    reason: str | None
    due_at: datetime | None = None
    escalate: str | None = None
    close_attempt: int | None = None
    void: bool = False


@dataclass(frozen=True)
class Render:
    """A message rendered in the send's own transaction, after its offer is reserved."""

    template: str
    channel: Channel
    ctx: RenderContext
    transliterate: bool
    offer: str


@dataclass
class Send:
    """Call ``channel`` with ``outgoing`` (or what ``render`` makes) for ``recipient``."""

    channel: str
    outgoing: Outgoing | None
    recipient: str
    attempt_number: int = 1
    note: str | None = None  # e.g. why the message goes without its offer
    render: Render | None = None
    escalate: str | None = None
    close_attempt: int | None = None
    offers: bool = False  # the row may hold an offer (a customer message)
    links: tuple[str, ...] = ()  # destinations behind /r/{token}, stored before the send
    survey: str | None = None  # the question this message asks (csat, nps)


def address_of(channel: Channel, ctx: RenderContext) -> str:
    """The address a message on ``channel`` goes to (RecipientError when there is none)."""
    if channel is Channel.EMAIL:
        return email_of(ctx)
    if channel is Channel.SMS:
        return phone_of(ctx)
    sub = push_subscription_of(ctx)
    return sub.endpoint or sub.fcm_token


@dataclass
class Batch:
    """What deciding a batch needs, loaded with a few queries for the whole batch."""

    notifications: dict[int, Notification]
    facts: dict[tuple[str, int], Facts]
    consents: dict[int, dict[tuple[str, str], bool]]
    failed: dict[int, set[str]]
    suppressed: dict[tuple[str, str], list[tuple[str, str]]]
    sent: dict[tuple[int, str], list[datetime]]
    open_attempts: dict[int, DeliveryAttempt] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, ids: list[int], now: datetime, *,
             caps: dict[str, tuple[int, timedelta]],
             transit: TransitModel | None = None) -> Batch:
        notifications = {n.id or 0: n for n in outbox.notifications_by_id(session, ids)}
        messages = [n for n in notifications.values() if n.kind == Kind.MESSAGE]
        facts: dict[tuple[str, int], Facts] = {}
        conn = session.connection()
        for kind in {n.entity_kind for n in messages}:
            # What detection reads, read the same way: plain rows and set-based queries,
            # no ORM objects (they cost more than deciding the batch).
            table = ENTITY_TABLES[kind].__table__  # type: ignore[attr-defined]
            wanted = {n.entity_id for n in messages if n.entity_kind == kind}
            rows = conn.execute(sa.select(table).where(among(conn, table.c.id, wanted))).all()
            for row, found in zip(rows, facts_of(conn, kind, rows, transit), strict=True):
                facts[(kind, row.id)] = found
        customers = {f.customer.id for f in facts.values() if f.customer}
        addresses = set()
        for f in facts.values():
            for value in (f.customer.email if f.customer else None,
                          f.customer.phone if f.customer else None,
                          f.cart.email if f.cart else None, f.cart.phone if f.cart else None):
                if value:
                    addresses.add(value)
            if f.customer:
                addresses.update(s.endpoint or s.fcm_token for s in f.customer.push_subscriptions)
        longest = max((window for _, window in caps.values()), default=timedelta(0))
        return cls(
            notifications=notifications,
            facts=facts,
            consents=outbox.consents_of_many(session, customer_ids=customers),
            failed=outbox.failed_channels(session, notification_ids=list(notifications)),
            suppressed=outbox.suppressions_for(session, addresses=addresses),
            sent=outbox.sent_times_many(session, customer_ids=customers, since=now - longest)
            if caps else {},
            open_attempts=outbox.open_attempts(session, notification_ids=list(notifications)),
        )

    def suppression(self, channel: str, address: str, purpose: str) -> str | None:
        for scope, reason in self.suppressed.get((channel, address), []):
            if scope in ("", purpose):
                return reason
        return None
