"""Web Push subscriptions captured on the storefront (``POST /push/subscriptions``).

One row per browser subscription, found by ``endpoint_hash`` (SHA-256 of the endpoint:
endpoints run to hundreds of characters). A row belongs to a customer once a signed
customer token named one; until then it waits, anonymous, under the cart token it came
with. ``marketing`` says whether the page asked for marketing as well as transactional
updates; ``source`` and ``created_at`` are the consent's provenance.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from notifier.store.types import UTCDateTime


class PushSubscriptionRow(SQLModel, table=True):
    __tablename__ = "push_subscriptions"

    id: int | None = Field(default=None, primary_key=True)
    endpoint_hash: str = Field(max_length=64, unique=True)
    endpoint: str = Field(sa_type=sa.Text)
    p256dh: str = Field(max_length=128)
    auth: str = Field(max_length=64)
    customer_id: int | None = Field(default=None, foreign_key="customers.id", index=True,
                                    ondelete="CASCADE")
    cart_token: str | None = Field(default=None, max_length=128, index=True)
    marketing: bool = False
    source: str = Field(max_length=255, description="origin of the page that subscribed")
    user_agent: str | None = Field(default=None, max_length=512)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
