"""The two guards that must hold exactly however many workers reserve at once.

**Per-customer limit.** Counting a customer's recent offers and then inserting one is a
race: two workers both count 0 and both issue. So a reservation first locks a row per
(customer, limit group) in ``offer_customer_locks`` (created on first use with ``INSERT
... ON CONFLICT DO NOTHING``, then ``SELECT ... FOR UPDATE``) and only then counts. The
second worker waits on that row lock until the first commits; under READ COMMITTED its
count, a new statement, then sees the first one's offer. Other customers are not blocked.

**Monthly budget.** ``offer_budgets`` holds one counter row per (policy, month), charged
with a single conditional statement::

    UPDATE offer_budgets SET spent = spent + :cost, issued = issued + 1
    WHERE policy = :policy AND month = :month AND spent + :cost <= :cap

PostgreSQL re-evaluates the WHERE on the newest row version after waiting for a
concurrent updater, so the sum can never pass the cap: the statement either charges the
whole cost or matches no row. No read-then-write, no retry loop.

Locks are always taken in this order (customer row, then budget row) and held until the
caller's transaction ends, so reservations cannot deadlock with each other. SQLite takes
the database write lock at ``BEGIN IMMEDIATE``, which serialises reservations anyway; the
same statements are correct there.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from notifier.offers.sql import insert_ignore
from notifier.store.offer_tables import Offer, OfferBudget, OfferCustomerLock


def lock_customer(session: Session, *, customer_id: int, limit_group: str) -> None:
    """Hold the (customer, limit group) row until the transaction ends."""
    insert_ignore(session, OfferCustomerLock,
                  {"customer_id": customer_id, "limit_group": limit_group},
                  keys=["customer_id", "limit_group"])
    session.exec(
        select(OfferCustomerLock)
        .where(OfferCustomerLock.customer_id == customer_id,
               OfferCustomerLock.limit_group == limit_group)
        .with_for_update()
    ).one()


def offers_since(session: Session, *, customer_id: int, limit_group: str,
                 since: datetime) -> int:
    """Offers (not voided) the customer got in the group after ``since``."""
    stmt = select(func.count()).select_from(Offer).where(
        Offer.customer_id == customer_id, Offer.limit_group == limit_group,
        col(Offer.status) != "void", col(Offer.issued_at) > since,
    )
    return int(session.exec(stmt).one())


def charge(session: Session, *, policy: str, month: str, cost: Decimal, cap: Decimal) -> bool:
    """Add ``cost`` to the month's spend if it stays within ``cap``; False when it would not."""
    insert_ignore(session, OfferBudget,
                  {"policy": policy, "month": month, "spent": Decimal(0), "issued": 0},
                  keys=["policy", "month"])
    table = OfferBudget.__table__  # type: ignore[attr-defined]
    stmt = (
        sa.update(table)
        .where(table.c.policy == policy, table.c.month == month,
               table.c.spent + cost <= cap)
        .values(spent=table.c.spent + cost, issued=table.c.issued + 1)
    )
    return bool(session.execute(stmt).rowcount)


def refund(session: Session, *, policy: str, month: str, cost: Decimal) -> None:
    """Give back what a voided offer was charged."""
    table = OfferBudget.__table__  # type: ignore[attr-defined]
    session.execute(
        sa.update(table)
        .where(table.c.policy == policy, table.c.month == month)
        .values(spent=table.c.spent - cost, issued=table.c.issued - 1)
    )


def spent(session: Session, *, policy: str, month: str) -> tuple[Decimal, int]:
    """(estimated cost, offers) charged to ``policy`` in ``month``."""
    row = session.get(OfferBudget, (policy, month))
    return (Decimal(row.spent), row.issued) if row else (Decimal(0), 0)
