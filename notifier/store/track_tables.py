"""Tables of the track stage: receipts, stored links and clicks, contacts, survey answers.

``receipt_events`` keeps every provider event once: ``(provider, event_id)`` is unique, so
a provider resending the same event adds nothing. ``message_links`` are the destinations
a message was composed with; the click redirect reads its target only from here.
``link_clicks`` keeps every request to ``/r/{token}``, scanners included (``counted``
false with ``flag`` saying why). ``contacts`` are support contacts a helpdesk reported
(``(source, external_id)`` unique). ``survey_answers`` hold one answer per message,
changeable, with what the customer had been told before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from notifier.store.types import UTCDateTime


class ReceiptEvent(SQLModel, table=True):
    """One event a provider (or the bounce mailbox) reported about a message.

    ``kind``: ``delivered``, ``deferred``, ``bounced``, ``complained``, ``unsubscribed``,
    ``opened``. ``bounce_kind`` is ``hard`` (5.x.x) or ``soft`` (4.x.x); ``status`` the
    enhanced status code when given. ``notification_id`` is empty when the message is not
    ours (the event is kept for the record).
    """

    __tablename__ = "receipt_events"
    __table_args__ = (sa.UniqueConstraint("provider", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=32)
    event_id: str = Field(max_length=255)
    notification_id: int | None = Field(default=None, foreign_key="notifications.id",
                                        index=True, ondelete="SET NULL")
    kind: str = Field(max_length=16)
    bounce_kind: str | None = Field(default=None, max_length=8)
    status: str | None = Field(default=None, max_length=16)
    address: str | None = Field(default=None, max_length=320)
    message_id: str | None = Field(default=None, max_length=255)
    detail: str | None = Field(default=None, sa_type=sa.Text)
    occurred_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    payload: str = Field(default="", sa_type=sa.Text)


class MessageLink(SQLModel, table=True):
    """A destination a message links to; ``/r/{token}`` names (notification, index)."""

    __tablename__ = "message_links"

    notification_id: int = Field(primary_key=True, foreign_key="notifications.id",
                                 ondelete="CASCADE")
    link_index: int = Field(primary_key=True)
    url: str = Field(sa_type=sa.Text)
    kind: str = Field(default="link", max_length=16, description="link, recovery, tracking")


class LinkClick(SQLModel, table=True):
    """Every request to a tracked link. ``counted`` is false for scanners (``flag``:
    ``head``, ``too-soon``, ``every-link``, ``bot-agent``); only counted clicks set
    ``clicked_at``/``clicks`` on the notification."""

    __tablename__ = "link_clicks"

    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(foreign_key="notifications.id", index=True,
                                 ondelete="CASCADE")
    link_index: int
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    method: str = Field(default="GET", max_length=8)
    user_agent: str | None = Field(default=None, max_length=512)
    counted: bool = True
    flag: str | None = Field(default=None, max_length=32)


class Contact(SQLModel, table=True):
    """A customer contacted support (``POST /v1/contacts``): the direct measure of
    "tell them before they complain". ``topic``: ``where_is_my_order``,
    ``delay_complaint``, ``damaged``, ``return``, ``other``."""

    __tablename__ = "contacts"
    __table_args__ = (
        sa.UniqueConstraint("source", "external_id"),
        sa.Index("ix_contacts_customer_at", "customer_id", "contacted_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    external_id: str = Field(max_length=128)
    customer_id: int | None = Field(default=None, foreign_key="customers.id",
                                    ondelete="SET NULL")
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True,
                                 ondelete="SET NULL")
    channel: str = Field(max_length=32)
    topic: str = Field(max_length=32)
    contacted_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class SurveyAnswer(SQLModel, table=True):
    """The one answer to a message's question (``kind`` ``csat`` 1-5 or ``nps`` 0-10).

    A second click changes ``score`` (``changes`` counts it); ``context`` records what the
    customer was told before (``{"delay_apology": true, "offer": "SORRY-AB12", ...}``).
    ``escalated_at`` is set the one time a low score was handed to a person.
    """

    __tablename__ = "survey_answers"

    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(foreign_key="notifications.id", unique=True,
                                 ondelete="CASCADE")
    customer_id: int | None = Field(default=None, foreign_key="customers.id", index=True,
                                    ondelete="SET NULL")
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True,
                                 ondelete="SET NULL")
    rule: str = Field(max_length=128)
    kind: str = Field(max_length=8)
    score: int
    comment: str | None = Field(default=None, sa_type=sa.Text)
    answered_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    changes: int = 0
    context: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
