"""The applier's edges that no single webhook shows, on SQLite and PostgreSQL: deliveries
racing to create one customer, consents newest-wins, stale snapshots inside a record."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from notifier.ingest.apply import Applied, Applier
from notifier.ingest.payloads import validate
from notifier.ingest.records import CustomerIn, OrderIn
from notifier.runtime import Runtime
from notifier.store.db import transaction
from notifier.store.tables import Consent, Customer, Order

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def apply(runtime: Runtime, model: type[CustomerIn] | type[OrderIn],
          data: dict[str, Any]) -> Applied:
    record = validate(model, data, context={"region": "PL"})
    with transaction(runtime.sessions) as session:
        return Applier(session, runtime.settings, source="shopify", now=NOW).apply(record)


def order(external_id: str, **fields: Any) -> dict[str, Any]:
    return {"external_id": external_id, "currency": "PLN", "total": "100.00", **fields}


def customers(runtime: Runtime) -> list[Customer]:
    with runtime.sessions() as session:
        return list(session.exec(select(Customer)).all())


def consents(runtime: Runtime) -> dict[str, tuple[bool, str]]:
    with runtime.sessions() as session:
        return {c.channel: (c.granted, c.at.isoformat())
                for c in session.exec(select(Consent).order_by(col(Consent.channel)))}


def test_two_deliveries_creating_one_customer_end_in_one_row(runtime: Runtime) -> None:
    buyer = {"external_id": "c1", "email": "anna@example.pl"}
    failures: list[BaseException] = []

    def second_delivery() -> None:
        try:
            apply(runtime, OrderIn, order("o2", customer={**buyer, "first_name": "Anna"}))
        except BaseException as exc:  # reported to the test below
            failures.append(exc)

    with transaction(runtime.sessions) as first:
        record = validate(OrderIn, order("o1", customer=buyer), context={"region": "PL"})
        Applier(first, runtime.settings, source="shopify", now=NOW).apply(record)
        racer = threading.Thread(target=second_delivery)
        racer.start()
        racer.join(timeout=0.5)
        assert racer.is_alive()  # waits for the first delivery's customer row
    racer.join(timeout=30)

    assert failures == []
    [customer] = customers(runtime)
    assert (customer.email, customer.first_name) == ("anna@example.pl", "Anna")
    with runtime.sessions() as session:
        linked = {o.external_id: o.customer_id for o in session.exec(select(Order))}
    assert linked == {"o1": customer.id, "o2": customer.id}


def test_consents_keep_the_newest_word(runtime: Runtime) -> None:
    apply(runtime, CustomerIn, {"external_id": "c1", "consents": [
        {"channel": "email", "granted": True, "at": "2026-11-30T10:00:00+00:00"},
        {"channel": "email", "granted": False, "at": "2026-11-30T09:00:00+00:00"},  # older
        {"channel": "sms", "granted": True, "at": "2026-11-30T08:00:00+00:00"},
    ]})
    assert consents(runtime) == {"email": (True, "2026-11-30T10:00:00+00:00"),
                                 "sms": (True, "2026-11-30T08:00:00+00:00")}

    apply(runtime, CustomerIn, {"external_id": "c1", "consents": [
        {"channel": "email", "granted": False, "at": "2026-11-30T09:30:00+00:00"},  # older
        {"channel": "sms", "granted": False, "at": "2026-11-30T11:00:00+00:00"},
        {"channel": "push", "granted": True, "at": "2026-11-30T11:00:00+00:00"},
    ]})
    assert consents(runtime) == {"email": (True, "2026-11-30T10:00:00+00:00"),
                                 "push": (True, "2026-11-30T11:00:00+00:00"),
                                 "sms": (False, "2026-11-30T11:00:00+00:00")}


def test_a_stale_customer_inside_a_fresh_order_is_linked_but_left_unchanged(
        runtime: Runtime) -> None:
    apply(runtime, CustomerIn, {"external_id": "c1", "first_name": "Anna",
                                "updated_at": "2026-11-30T11:00:00+00:00"})
    old_snapshot = {"external_id": "c1", "first_name": "Ania",
                    "updated_at": "2026-11-30T10:00:00+00:00"}
    assert apply(runtime, OrderIn, order("o1", customer=old_snapshot)).outcome == "applied"

    [customer] = customers(runtime)
    assert customer.first_name == "Anna"
    with runtime.sessions() as session:
        assert session.exec(select(Order.customer_id)).one() == customer.id


def test_a_stale_order_does_not_touch_its_customer(runtime: Runtime) -> None:
    newer = order("o1", updated_at="2026-11-30T11:00:00+00:00",
                  customer={"external_id": "c1", "first_name": "Anna"})
    older = order("o1", updated_at="2026-11-30T10:00:00+00:00",
                  customer={"external_id": "c1", "first_name": "Ania"})
    assert apply(runtime, OrderIn, newer).outcome == "applied"
    assert apply(runtime, OrderIn, older) == Applied("order", "o1", "stale")
    assert [c.first_name for c in customers(runtime)] == ["Anna"]
