"""Reserving offers on a real database: stored records, retries, limits, budgets, void."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, select

from notifier.compose.context import OfferKind
from notifier.offers import OfferService, days_past
from notifier.offers.guards import spent
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


def test_an_offer_is_stored_with_its_context_and_reused_on_retry(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    service = OfferService(offer_settings(tmp_path, db_url))
    with transaction(sessions) as session:
        customer = add_customer(session)
        order = add_order(session, customer_id=customer, total="249.99")
        note = add_notification(session, customer_id=customer, entity_id=order, key="a")
        first = reserve(service, session, notification_id=note, customer_id=customer,
                        order_id=order, days_late=3, total="249.99")
    assert first.offer is not None and first.reason == "" and not first.escalate
    assert first.offer.kind is OfferKind.PERCENT and first.offer.value == Decimal(15)
    assert first.offer.code.startswith("SORRY-")
    # Valid 30 days, to the end of that day in the shop's timezone (Warsaw, UTC+1).
    assert first.offer.expires_at.isoformat() == "2026-12-31T23:59:59+01:00"

    with transaction(sessions) as session:
        again = reserve(service, session, notification_id=note, customer_id=customer,
                        order_id=order, days_late=5)
        row = session.exec(select(Offer)).one()
    assert again.offer == first.offer
    assert (row.policy, row.kind, row.value, row.currency, row.status) == (
        "delay-compensation", "percent", Decimal(15), "PLN", "issued")
    assert (row.customer_id, row.order_id, row.notification_id) == (customer, order, note)
    assert (row.rule, row.step, row.days_late, row.issued_at) == ("shipment-late", 0, 3, NOW)
    assert row.estimated_cost == Decimal("37.50")


def test_customer_gets_one_delay_compensation_per_window(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    service = OfferService(offer_settings(tmp_path, db_url))
    with transaction(sessions) as session:
        customer = add_customer(session)
        order = add_order(session, customer_id=customer)
        notes = [add_notification(session, customer_id=customer, entity_id=order, key=k)
                 for k in "abc"]
        first = reserve(service, session, notification_id=notes[0], customer_id=customer)
        day_29 = reserve(service, session, notification_id=notes[1], customer_id=customer,
                         now=NOW + timedelta(days=29, hours=23))
        day_30 = reserve(service, session, notification_id=notes[2], customer_id=customer,
                         now=NOW + timedelta(days=30, minutes=1))
    assert first.offer is not None
    assert day_29.offer is None and not day_29.escalate
    assert day_29.reason == ("offer delay-compensation: customer limit 1/30d of "
                             "'delay-compensation' reached")
    assert day_30.offer is not None


def test_a_limit_group_is_shared_by_policies(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    shared = {"tiers": [{"percent": 10}], "limit_group": "delays"}
    service = OfferService(offer_settings(tmp_path, db_url, policies={
        "late-parcel": shared, "unshipped": {**shared, "on_exhausted": "escalate"}}))
    with transaction(sessions) as session:
        customer = add_customer(session)
        order = add_order(session, customer_id=customer)
        a = add_notification(session, customer_id=customer, entity_id=order, key="a")
        b = add_notification(session, customer_id=customer, entity_id=order, key="b")
        assert reserve(service, session, notification_id=a, customer_id=customer,
                       policy="late-parcel").offer is not None
        second = reserve(service, session, notification_id=b, customer_id=customer,
                         policy="unshipped")
    assert second.offer is None and second.escalate
    assert "limit 1/30d of 'delays' reached" in second.reason


def test_budget_stops_exactly_at_the_cap_and_a_void_refunds(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    # 10% of 150.00 costs 15.00: a cap of 50.00 fits three, not four.
    service = OfferService(offer_settings(tmp_path, db_url, policies={
        "capped": {"tiers": [{"percent": 10}], "limit": "", "monthly_budget": "50.00"}}))
    with transaction(sessions) as session:
        customer = add_customer(session)
        order = add_order(session, customer_id=customer, total="150.00")
        notes = [add_notification(session, customer_id=customer, entity_id=order, key=f"n{i}")
                 for i in range(5)]
        got = [reserve(service, session, notification_id=n, customer_id=customer,
                       policy="capped", total="150.00") for n in notes[:4]]
        assert [r.offer is not None for r in got] == [True, True, True, False]
        assert got[3].reason == "offer capped: monthly budget 50.00 PLN of 2026-12 reached"
        assert spent(session, policy="capped", month="2026-12") == (Decimal("45.00"), 3)

        assert service.void(session, notes[0], "not sent: no channel", now=NOW)
        assert not service.void(session, notes[0], "twice", now=NOW)
        assert spent(session, policy="capped", month="2026-12") == (Decimal("30.00"), 2)
        after_void = reserve(service, session, notification_id=notes[4], customer_id=customer,
                             policy="capped", total="150.00")
        voided = reserve(service, session, notification_id=notes[0], customer_id=customer,
                         policy="capped")
        next_month = reserve(service, session, notification_id=notes[3],
                             customer_id=customer, policy="capped", total="150.00",
                             now=NOW + timedelta(days=31))
    assert after_void.offer is not None
    assert voided.offer is None and "voided (not sent: no channel)" in voided.reason
    assert next_month.offer is not None
    assert service.metrics.counts["declined:budget:capped"] == 1


def test_reasons_when_no_offer_fits(tmp_path: Path, db_url: str,
                                    sessions: sessionmaker[Session]) -> None:
    service = OfferService(offer_settings(tmp_path, db_url, exchange_rates={"EUR": "4.30"},
                                          policies={"fixed": {
        "tiers": [{"kind": "amount", "amount": {"PLN": 20, "EUR": 5, "GBP": 4}}],
        "monthly_budget": 100}}))
    with transaction(sessions) as session:
        customer = add_customer(session)
        notes = [add_notification(session, customer_id=customer, entity_id=1, key=k)
                 for k in "abcdef"]
        on_time = reserve(service, session, notification_id=notes[0], customer_id=customer,
                          days_late=0)
        unknown = reserve(service, session, notification_id=notes[1], customer_id=customer,
                          policy="nope")
        czk = reserve(service, session, notification_id=notes[2], customer_id=customer,
                      policy="fixed", currency="CZK")
        eur = reserve(service, session, notification_id=notes[3], customer_id=customer,
                      policy="fixed", currency="EUR")
        gbp = reserve(service, session, notification_id=notes[4], customer_id=None,
                      policy="fixed", currency="GBP")
        guest = reserve(service, session, notification_id=notes[5], customer_id=None,
                        days_late=2)
        eur_row = session.exec(select(Offer).where(Offer.notification_id == notes[3])).one()
    assert on_time.reason == ("offer delay-compensation: no tier fits: 0 day(s) late, "
                              "order total 200.00 PLN, segment -")
    assert unknown.reason == "unknown offer policy 'nope'"
    assert czk.reason == "offer fixed: the tier gives no amount in CZK"
    assert eur.offer is not None and (eur.offer.kind, eur.offer.value) == (
        OfferKind.AMOUNT, Decimal(5))
    assert eur_row.estimated_cost == Decimal("21.50")
    assert gbp.reason == ("offer fixed: cannot cost GBP against the budget in PLN: "
                          "set [offers.exchange_rates] GBP")
    assert guest.offer is not None  # guests have no per-customer limit to check


def test_disabled_offers(tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    service = OfferService(offer_settings(tmp_path, db_url, enabled=False))
    with transaction(sessions) as session:
        note = add_notification(session, customer_id=None, entity_id=1, key="a")
        result = reserve(service, session, notification_id=note, customer_id=None)
    assert result.offer is None and "disabled" in result.reason


def test_unshipped_days_count_as_late() -> None:
    assert days_past(None, NOW) == 0
    assert days_past(NOW, NOW) == 0
    assert days_past(NOW - timedelta(hours=4), NOW) == 1
    assert days_past(NOW - timedelta(days=2), NOW) == 2
    assert days_past(NOW - timedelta(days=2, minutes=1), NOW) == 3
