"""The table of cases handed to a person (see :mod:`notifier.escalation`).

Its support email and helpdesk webhook are outbox rows (``notifications`` of kind
``support`` and ``webhook``, keyed ``support:<notification id>`` and
``escalation.created:<notification id>``), written in the same transaction as this row.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from notifier.store.types import UTCDateTime


class EscalationRecord(SQLModel, table=True):
    """A case handed to a person; one per notification, however often it is asked for."""

    __tablename__ = "escalations"

    id: int | None = Field(default=None, primary_key=True)
    notification_id: int | None = Field(default=None, foreign_key="notifications.id",
                                        unique=True, ondelete="SET NULL")
    customer_id: int | None = Field(default=None, foreign_key="customers.id",
                                    index=True, ondelete="SET NULL")
    order_id: int | None = Field(default=None, foreign_key="orders.id", ondelete="SET NULL")
    rule: str = Field(max_length=128)
    step: int
    reason: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    email_to: str | None = Field(default=None, max_length=320)
