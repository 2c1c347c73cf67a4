"""The two guards that must hold exactly however many workers reserve at once.

**Per-customer limit.** Counting a customer's recent offers and then inserting one is a
race: two workers both count 0 and both issue. So a reservation first locks a row per
(customer, limit group) in ``offer_customer_locks`` and only then counts. One statement
creates the row on first use and locks it::

    INSERT INTO offer_customer_locks (customer_id, limit_group) VALUES (:c, :g)
    ON CONFLICT (customer_id, limit_group) DO UPDATE SET limit_group = excluded.limit_group
    WHERE false

PostgreSQL locks the conflicting row for an ``ON CONFLICT DO UPDATE`` even when its WHERE
updates nothing (so the row is never rewritten), waiting first for a transaction that
holds it or is inserting it. The second worker waits on that row lock until the first
commits; under READ COMMITTED its count, a new statement, then sees the first one's offer.
Other customers are not blocked.

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

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from notifier.store.db import dialect_insert
from notifier.store.offer_tables import Offer, OfferBudget, OfferCustomerLock
from notifier.store.sql import insert_ignore

# The two statements of every limited reservation are built once, with bind parameters:
# building them per call cost more than running them.
_LOCKS = OfferCustomerLock.__table__  # type: ignore[attr-defined]
_OFFERS_SINCE = select(func.count()).select_from(Offer).where(
    Offer.customer_id == sa.bindparam("b_customer_id"),
    Offer.limit_group == sa.bindparam("b_limit_group"),
    col(Offer.status) != "void", col(Offer.issued_at) > sa.bindparam("b_since"),
)


@lru_cache(maxsize=2)
def _lock_statement(insert: Callable[[sa.Table], Any]) -> Any:
    stmt = insert(_LOCKS).values(customer_id=sa.bindparam("b_customer_id"),
                                 limit_group=sa.bindparam("b_limit_group"))
    return stmt.on_conflict_do_update(index_elements=["customer_id", "limit_group"],
                                      set_={"limit_group": stmt.excluded.limit_group},
                                      where=sa.false())


def lock_customer(session: Session, *, customer_id: int, limit_group: str) -> None:
    """Hold the (customer, limit group) row until the transaction ends (created if new)."""
    session.execute(_lock_statement(dialect_insert(session)),
                    {"b_customer_id": customer_id, "b_limit_group": limit_group})


def offers_since(session: Session, *, customer_id: int, limit_group: str,
                 since: datetime) -> int:
    """Offers (not voided) the customer got in the group after ``since``."""
    return int(session.execute(_OFFERS_SINCE, {
        "b_customer_id": customer_id, "b_limit_group": limit_group, "b_since": since,
    }).scalar_one())


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


def lock_customers(session: Session, pairs: list[tuple[int, str]]) -> None:
    """:func:`lock_customer` for many (customer, limit group) pairs in one statement, in
    the order given: callers pass them sorted, so two workers locking overlapping sets
    take the rows in the same order and cannot deadlock."""
    if pairs:
        session.execute(_lock_statement(dialect_insert(session)), [
            {"b_customer_id": c, "b_limit_group": g} for c, g in pairs])


def offers_since_many(session: Session, *, customer_ids: set[int], limit_group: str,
                      since: datetime) -> dict[int, int]:
    """:func:`offers_since` for many customers of one group (absent: none)."""
    if not customer_ids:
        return {}
    stmt = (select(Offer.customer_id, func.count()).where(
        col(Offer.customer_id).in_(customer_ids), Offer.limit_group == limit_group,
        col(Offer.status) != "void", col(Offer.issued_at) > since)
        .group_by(col(Offer.customer_id)))
    return {int(c): int(n) for c, n in session.execute(stmt) if c is not None}
