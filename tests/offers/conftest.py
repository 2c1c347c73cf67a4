"""Offer test fixtures: a real database per backend and rows to reserve against."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from notifier.config import Settings
from notifier.offers import OfferService, Reservation
from notifier.store.db import create_db_engine, session_factory, transaction
from notifier.store.tables import Customer, Notification, Order
from tests.conftest import make_settings

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def offer_settings(tmp_path: Path, db_url: str, **offers: Any) -> Settings:
    return make_settings(tmp_path, database={"url": db_url}, offers=offers)


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


def add_customer(session: Session, *, segment: str | None = None, n: int = 1) -> int:
    row = Customer(source="api", external_id=f"c-{n}", email=f"c{n}@example.pl",
                   first_name="Anna", segment=segment)
    session.add(row)
    session.flush()
    return row.id or 0


def add_order(session: Session, *, customer_id: int | None, total: str = "200.00",
              currency: str = "PLN", n: int = 1) -> int:
    row = Order(source="api", external_id=f"o-{n}", number=f"100{n}", customer_id=customer_id,
                status="confirmed", payment_status="paid", currency=currency,
                total=Decimal(total), placed_at=NOW)
    session.add(row)
    session.flush()
    return row.id or 0


def add_notification(session: Session, *, customer_id: int | None, entity_id: int,
                     key: str, rule: str = "shipment-late", entity_kind: str = "order",
                     days_late: int = 1, at: datetime = NOW, status: str = "sending",
                     purpose: str = "transactional", sent: bool = False,
                     template: str = "shipment_late", channel: str | None = None) -> int:
    row = Notification(key=key, rule=rule, step=0, entity_kind=entity_kind,
                       entity_id=entity_id, customer_id=customer_id, template=template,
                       purpose=purpose, channels=["email", "sms"], status=status,
                       due_at=at, detected_at=at, days_late=days_late,
                       sent_at=at if sent else None, channel=channel)
    session.add(row)
    session.flush()
    return row.id or 0


def reserve(service: OfferService, session: Session, *, notification_id: int,
            customer_id: int | None, order_id: int | None = None,
            policy: str = "delay-compensation", days_late: int = 1,
            total: str | None = "200.00", currency: str = "PLN", segment: str | None = None,
            now: datetime = NOW) -> Reservation:
    """``OfferService.reserve`` with the arguments a test does not care about filled in."""
    return service.reserve(
        session, policy=policy, notification_id=notification_id, customer_id=customer_id,
        segment=segment, order_id=order_id,
        order_total=Decimal(total) if total is not None else None, currency=currency,
        days_late=days_late, rule="shipment-late", step=0, now=now)


def setup_customers(sessions: sessionmaker[Session], count: int, *,
                    same_customer: bool = False) -> list[tuple[int, int, int]]:
    """``count`` (customer, order, notification) triples committed for concurrent tests."""
    out = []
    with transaction(sessions) as session:
        shared = add_customer(session, n=0) if same_customer else None
        for i in range(1, count + 1):
            customer = shared or add_customer(session, n=i)
            order = add_order(session, customer_id=customer, n=i, total="150.00")
            note = add_notification(session, customer_id=customer, entity_id=order,
                                    key=f"k-{i}")
            out.append((customer, order, note))
    return out
