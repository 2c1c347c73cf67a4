"""Tables of compensation offers, their guards and code pools.

``offers`` keeps every code we issued with what it cost and what it earned.
``offer_budgets`` and ``offer_customer_locks`` exist only so concurrent workers agree:
a budget is a counter updated conditionally, a customer lock a row to ``SELECT ... FOR
UPDATE`` before counting that customer's offers (see :mod:`notifier.offers.guards`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from notifier.store.tables import Money
from notifier.store.types import UTCDateTime


class Offer(SQLModel, table=True):
    """One issued discount code.

    ``notification_id`` is unique: a retried notification finds and re-uses its offer.
    ``estimated_cost`` is in the shop currency and was charged to ``budget_month``
    (``YYYY-MM`` in the shop's timezone); a void refunds it. ``status``: ``issued``,
    ``redeemed`` (``redeemed_order_id`` and ``revenue`` say by which order) or ``void``.
    """

    __tablename__ = "offers"
    __table_args__ = (
        sa.Index("ix_offers_customer_group_issued", "customer_id", "limit_group", "issued_at"),
        sa.Index("ix_offers_policy_issued", "policy", "issued_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    policy: str = Field(max_length=64)
    limit_group: str = Field(max_length=64)
    kind: str = Field(max_length=16, description="percent, amount, free_shipping")
    value: Decimal = Field(default=Decimal(0), sa_type=Money)
    currency: str = Field(max_length=3)
    source: str = Field(max_length=16, description="generated or pool")
    customer_id: int | None = Field(default=None, foreign_key="customers.id",
                                    ondelete="SET NULL")
    order_id: int | None = Field(default=None, foreign_key="orders.id", ondelete="SET NULL")
    notification_id: int | None = Field(default=None, foreign_key="notifications.id",
                                        unique=True, ondelete="SET NULL")
    rule: str = Field(max_length=128)
    step: int
    days_late: int = 0
    issued_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    estimated_cost: Decimal | None = Field(default=None, sa_type=Money)
    budget_month: str | None = Field(default=None, max_length=7)
    status: str = Field(default="issued", max_length=16, index=True)
    void_reason: str | None = Field(default=None, sa_type=sa.Text)
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    redeemed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    redeemed_order_id: int | None = Field(default=None, foreign_key="orders.id",
                                          ondelete="SET NULL")
    revenue: Decimal | None = Field(default=None, sa_type=Money)
    revenue_currency: str | None = Field(default=None, max_length=3)


class OfferBudget(SQLModel, table=True):
    """Estimated cost issued by a policy in one month; updated only conditionally."""

    __tablename__ = "offer_budgets"

    policy: str = Field(primary_key=True, max_length=64)
    month: str = Field(primary_key=True, max_length=7)
    spent: Decimal = Field(default=Decimal(0), sa_type=Money)
    issued: int = 0


class OfferCustomerLock(SQLModel, table=True):
    """A row per (customer, limit group) that reservations lock before counting offers."""

    __tablename__ = "offer_customer_locks"

    customer_id: int = Field(primary_key=True, foreign_key="customers.id", ondelete="CASCADE")
    limit_group: str = Field(primary_key=True, max_length=64)


class OfferPoolCode(SQLModel, table=True):
    """A code made in the shop and imported, handed out once (``used_at`` set)."""

    __tablename__ = "offer_pool_codes"
    __table_args__ = (sa.Index("ix_offer_pool_codes_free", "pool", "used_at"),)

    id: int | None = Field(default=None, primary_key=True)
    pool: str = Field(max_length=64)
    code: str = Field(max_length=64, unique=True)
    imported_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
