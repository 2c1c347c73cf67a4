"""A code used on an order is linked to it and the order's revenue is credited."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, select

from notifier.offers import OfferService, redeem
from notifier.store.db import transaction
from notifier.store.offer_tables import Offer
from tests.offers.conftest import (
    NOW,
    add_customer,
    add_notification,
    add_order,
    offer_settings,
    reserve,
)


def test_a_redeemed_code_links_its_order_and_revenue(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    service = OfferService(offer_settings(tmp_path, db_url))
    with transaction(sessions) as session:
        customer = add_customer(session)
        late_order = add_order(session, customer_id=customer, n=1)
        note = add_notification(session, customer_id=customer, entity_id=late_order, key="a")
        code = reserve(service, session, notification_id=note, customer_id=customer,
                       order_id=late_order).offer.code  # type: ignore[union-attr]
        next_order = add_order(session, customer_id=customer, total="318.40", n=2)

    later = NOW + timedelta(days=5)
    with transaction(sessions) as session:
        typed = f" {code.lower()} "  # as a customer types it
        done = redeem(session, order_id=next_order, codes=["WELCOME", typed],
                      order_total=Decimal("318.40"), currency="pln", now=later)
        assert [o.code for o in done] == [code]
    with transaction(sessions) as session:  # the order update webhook arrives again
        assert redeem(session, order_id=next_order, codes=[code],
                      order_total=Decimal("318.40"), currency="PLN", now=later) == []
        assert redeem(session, order_id=next_order, codes=[], order_total=Decimal(1),
                      currency="PLN", now=later) == []
        row = session.exec(select(Offer)).one()
    assert (row.status, row.redeemed_order_id, row.redeemed_at) == ("redeemed", next_order,
                                                                     later)
    assert (row.revenue, row.revenue_currency) == (Decimal("318.40"), "PLN")
    assert row.order_id == late_order  # the order that went wrong stays recorded


def test_a_voided_code_is_not_redeemed(tmp_path: Path, db_url: str,
                                       sessions: sessionmaker[Session]) -> None:
    service = OfferService(offer_settings(tmp_path, db_url))
    with transaction(sessions) as session:
        customer = add_customer(session)
        order = add_order(session, customer_id=customer)
        note = add_notification(session, customer_id=customer, entity_id=order, key="a")
        code = reserve(service, session, notification_id=note, customer_id=customer
                       ).offer.code  # type: ignore[union-attr]
        service.void(session, note, "not sent", now=NOW)
        assert redeem(session, order_id=order, codes=[code], order_total=Decimal(10),
                      currency="PLN", now=NOW) == []
