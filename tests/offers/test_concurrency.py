"""Limits, budgets and pools hold exactly when many workers reserve at the same moment.

Each reservation runs in its own thread, connection and transaction, released together
by a barrier, as separate dispatcher processes would be. On PostgreSQL they really
overlap; on SQLite ``BEGIN IMMEDIATE`` queues them.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from notifier.offers import OfferService, Reservation
from notifier.offers.guards import spent
from notifier.offers.pool import import_codes
from notifier.store.db import transaction
from notifier.store.offer_tables import Offer, OfferPoolCode
from tests.offers.conftest import NOW, offer_settings, reserve, setup_customers

WORKERS = 12


def race(sessions: sessionmaker[Session], service: OfferService,
         cases: list[tuple[int | None, int, int]], policy: str) -> list[Reservation]:
    barrier = threading.Barrier(len(cases))

    def one(case: tuple[int | None, int, int]) -> Reservation:
        customer, order, note = case
        barrier.wait()
        with transaction(sessions) as session:
            return reserve(service, session, notification_id=note, customer_id=customer,
                           order_id=order, policy=policy, total="150.00")

    with ThreadPoolExecutor(len(cases)) as workers:
        return list(workers.map(one, cases))


def offers(sessions: sessionmaker[Session]) -> list[Offer]:
    with sessions() as session:
        return list(session.exec(select(Offer).order_by(col(Offer.id))).all())


def test_budget_cap_holds_under_concurrent_reservations(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    # 10% of 150.00 = 15.00 each: a 100.00 cap fits exactly six of twelve.
    service = OfferService(offer_settings(tmp_path, db_url, policies={
        "capped": {"tiers": [{"percent": 10}], "monthly_budget": "100.00"}}))
    results = race(sessions, service, setup_customers(sessions, WORKERS), "capped")

    issued = [r for r in results if r.offer is not None]
    assert len(issued) == 6
    assert {r.reason for r in results if r.offer is None} == {
        "offer capped: monthly budget 100.00 PLN of 2026-12 reached"}
    rows = offers(sessions)
    assert len(rows) == 6 and len({r.code for r in rows}) == 6
    total = sum((r.estimated_cost or Decimal(0)) for r in rows)
    assert total == Decimal("90.00") <= Decimal("100.00")
    with sessions() as session:
        assert spent(session, policy="capped", month="2026-12") == (total, 6)


def test_one_compensation_per_customer_under_concurrent_reservations(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    service = OfferService(offer_settings(tmp_path, db_url))
    cases = setup_customers(sessions, WORKERS, same_customer=True)
    results = race(sessions, service, cases, "delay-compensation")

    assert sum(r.offer is not None for r in results) == 1
    assert all("customer limit 1/30d" in r.reason for r in results if r.offer is None)
    assert len(offers(sessions)) == 1


def test_a_retried_notification_reserves_once_under_concurrency(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    # A guest (no customer lock): the unique notification_id alone decides.
    service = OfferService(offer_settings(tmp_path, db_url))
    (_, order, note), = setup_customers(sessions, 1)
    results = race(sessions, service, [(None, order, note)] * 6, "delay-compensation")

    assert len({r.offer for r in results}) == 1 and results[0].offer is not None
    assert len(offers(sessions)) == 1


def test_each_pool_code_is_handed_out_once_under_concurrency(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    service = OfferService(offer_settings(tmp_path, db_url, policies={
        "pooled": {"tiers": [{"percent": 10}], "codes": "pool", "pool_low_threshold": 2}}))
    with transaction(sessions) as session:
        import_codes(session, [f"SHOP-{i}\n" for i in range(5)], default_pool="pooled",
                     known_pools={"pooled"}, now=NOW)
    results = race(sessions, service, setup_customers(sessions, 8), "pooled")

    codes = [r.offer.code for r in results if r.offer is not None]
    assert sorted(codes) == [f"SHOP-{i}" for i in range(5)]
    assert sum("pool 'pooled' is empty" in r.reason for r in results) == 3
    with sessions() as session:
        used = session.exec(select(OfferPoolCode).where(col(OfferPoolCode.used_at).is_not(None)))
        assert len(list(used)) == 5
