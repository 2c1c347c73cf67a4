"""Linking a used code to the order it was used on, and crediting that order's revenue.

Ingest calls :func:`redeem` for every stored order that carries discount codes (creates
and updates alike): it is idempotent, and codes are compared case- and space-
insensitively. Only ``issued`` offers are redeemed: a redeemed one keeps its first order,
and a voided one was never seen by the customer. An expired code the shop still accepted
counts: the shop decided. ``revenue`` is the whole order's total in its currency; an order
using two of our codes credits both offers with it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache

import sqlalchemy as sa
from sqlmodel import Session, col, select

from notifier.offers.codes import normalise_code
from notifier.store.offer_tables import Offer


def redeem(session: Session, *, order_id: int, codes: list[str], order_total: Decimal,
           currency: str, now: datetime) -> list[Offer]:
    """Mark issued offers whose code is among ``codes`` redeemed by ``order_id``."""
    wanted = {normalise_code(c) for c in codes if c and c.strip()}
    if not wanted:
        return []
    # Most codes on an order are the shop's own promotions: a plain look-up first spares
    # them the locking ORM query, which costs as much as storing the rest of the order.
    session.flush()
    if session.connection().execute(_issued(), {"codes": sorted(wanted)}).first() is None:
        return []
    stmt = (select(Offer).where(col(Offer.code).in_(sorted(wanted)), Offer.status == "issued")
            .with_for_update())
    redeemed = []
    for offer in session.exec(stmt).all():
        offer.status, offer.redeemed_at, offer.redeemed_order_id = "redeemed", now, order_id
        offer.revenue, offer.revenue_currency = order_total, currency.upper()
        session.add(offer)
        redeemed.append(offer)
    return redeemed


@cache
def _issued() -> sa.Select[tuple[int]]:
    offers = Offer.__table__  # type: ignore[attr-defined]
    return (sa.select(offers.c.id).where(offers.c.code.in_(sa.bindparam("codes", expanding=True)),
                                         offers.c.status == "issued").limit(1))
