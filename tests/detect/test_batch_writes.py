"""The scan's batch statements on both backends: claims counted exactly once whatever the
batch's size and overlap, the roll-up's change log kept for rows of rolled-up days only,
next-check times written, lists matched; and snapshots built in bulk equal to built ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from notifier.detect.bulk import insert_new, set_by_id
from notifier.domain import OrderSnapshot, frozen
from notifier.store.db import create_db_engine
from notifier.store.lists import among
from notifier.store.report_tables import ReportChange, ReportRollupState
from notifier.store.snapshots import customer_snapshot, order_snapshot
from notifier.store.tables import Customer, Notification, Order

N = Notification.__table__  # type: ignore[attr-defined]
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
COLUMNS = ("rule", "entity_kind", "entity_id", "customer_id", "purpose", "channels",
           "detected_at", "due_at", "step", "template", "status", "key")


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.insert(Customer.__table__), [  # type: ignore[attr-defined]
            {"id": i, "source": "t", "external_id": f"c{i}", "locale": "pl",
             "push_subscriptions": [], "created_at": NOW, "updated_at": NOW}
            for i in (1, 2)])
    yield engine
    engine.dispose()


def claim(i: int, *, status: str = "pending", at: datetime = NOW) -> tuple[object, ...]:
    return ("r", "order", i, 1 + i % 2, "service", ["email", "sms"], at, at, 0, "t", status,
            f"r:0:order:{i}")


def test_claims_are_counted_once_by_group_whatever_the_overlap(engine: sa.Engine) -> None:
    first = [claim(i, status="pending" if i % 3 else "skipped") for i in range(700)]
    with engine.begin() as conn:
        counts = insert_new(conn, N, COLUMNS, first, key="key", count_by=("status", "rule"))
    assert counts == {("pending", "r"): 466, ("skipped", "r"): 234}
    again = [claim(i) for i in range(600, 900)]  # 100 known, 200 new
    with engine.begin() as conn:
        counts = insert_new(conn, N, COLUMNS, again, key="key", count_by=("status", "rule"))
        assert counts == {("pending", "r"): 200}
        rows = conn.execute(sa.select(N.c.key, N.c.channels, N.c.detected_at, N.c.kind,
                                      N.c.attempts)).all()
    assert sorted(r.key for r in rows) == sorted(f"r:0:order:{i}" for i in range(900))
    assert {(tuple(r.channels), r.detected_at, r.kind, r.attempts) for r in rows} == {
        (("email", "sms"), NOW, "message", 0)}


def test_only_rows_of_rolled_up_days_are_logged(engine: sa.Engine) -> None:
    bound = NOW - timedelta(hours=12)
    with engine.begin() as conn:
        conn.execute(sa.insert(ReportRollupState.__table__).values(  # type: ignore[attr-defined]
            id=1, timezone="UTC", logged_until=bound))
        claims = [claim(i, at=bound - timedelta(hours=1) if i % 4 == 0 else NOW)
                  for i in range(300)]
        insert_new(conn, N, COLUMNS, claims, key="key", count_by=("status",))
        insert_new(conn, N, COLUMNS, claims, key="key", count_by=("status",))  # known: no-op
    with engine.begin() as conn:
        logged = conn.execute(sa.select(ReportChange.__table__.c.entity_id)).scalars().all()  # type: ignore[attr-defined]
        assert sorted(logged) == list(range(0, 300, 4))
        conn.execute(sa.delete(N).where(N.c.entity_id < 8))  # 0 and 4 are on a closed day
        assert conn.execute(sa.select(sa.func.count()).select_from(
            ReportChange.__table__)).scalar() == 75 + 2  # type: ignore[attr-defined]


def test_next_checks_are_set_by_id_and_lists_matched(engine: sa.Engine) -> None:
    orders = Order.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(sa.insert(orders), [
            {"id": i, "source": "t", "external_id": f"o{i}", "status": "confirmed",
             "payment_status": "paid", "is_test": False, "currency": "PLN", "total": 1,
             "items": [], "discount_codes": [], "created_at": NOW, "updated_at": NOW}
            for i in range(1, 1201)])
        set_by_id(conn, orders, "next_check_at",
                  [(i, NOW + timedelta(minutes=i) if i % 2 else None) for i in range(1, 1201)])
        got = dict(conn.execute(sa.select(orders.c.id, orders.c.next_check_at)).all())
        assert got == {i: NOW + timedelta(minutes=i) if i % 2 else None for i in range(1, 1201)}
        wanted = [f"o{i}" for i in range(0, 1500, 7)]
        found = conn.execute(sa.select(orders.c.id).where(
            among(conn, orders.c.external_id, wanted))).scalars().all()
        assert sorted(found) == [i for i in range(7, 1201, 7)]
        assert conn.execute(sa.select(orders.c.id).where(
            among(conn, orders.c.id, [3, 5, 99999]))).scalars().all() == [3, 5]


def test_frozen_builds_the_same_value_as_the_dataclass() -> None:
    row = SimpleNamespace(
        id=7, external_id="o7", number=None, status="confirmed", payment_status="paid",
        currency="PLN", total="12.50", items=[{"name": "Kubek", "price": "12.5", "quantity": 2}],
        discount_codes=["LATO"], shipping_method=None, payment_method="cod", is_test=False,
        placed_at=NOW, ship_by=NOW, deliver_by=None, shipped_at=None, delivered_at=None,
        cancelled_at=None, ship_country="PL", ship_postcode="00-001")
    built = order_snapshot(row)  # type: ignore[arg-type]
    direct = OrderSnapshot(**{f.name: getattr(built, f.name)
                              for f in dataclasses.fields(OrderSnapshot)})
    assert built == direct and hash(built) == hash(direct) and repr(built) == repr(direct)
    assert built.number == "o7" and built.total == Decimal("12.50")
    assert built.items[0].quantity == 2 and built.discount_codes == ("LATO",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.status = "cancelled"  # type: ignore[misc]
    with pytest.raises(TypeError, match="needs all its fields"):
        frozen(OrderSnapshot, {"id": 1})
    person = customer_snapshot(SimpleNamespace(  # type: ignore[arg-type]
        id=3, email="a@b.pl", phone=None, first_name="Ala", last_name=None, salutation=None,
        gender=None, locale="pl", timezone=None, segment=None, preferred_channel=None,
        push_subscriptions=[{"endpoint": "https://push", "p256dh": "k", "auth": "a"}]))
    assert person.push_subscriptions[0].fcm_token == "" and person.first_name == "Ala"
