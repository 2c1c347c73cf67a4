"""Mapping BaseLinker orders, parcels and courier history onto our records (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from notifier.errors import PayloadError
from notifier.ingest.baselinker import (
    BaseLinkerAdapter,
    parse_histories,
    parse_journal,
    parse_order,
    parse_packages,
)
from tests.fakes.baselinker import history, order, package, ts

T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
ADAPTER = BaseLinkerAdapter(status_map={"1052": "shipped", "anulowane": "cancelled",
                                        "Dostarczone": "delivered"})


def mapped(status_name: str | None = None, **fields: Any):  # type: ignore[no-untyped-def]
    return ADAPTER.order(parse_order(order(1001, confirmed_at=T0, **fields)),
                         status_name=status_name)


def test_order_fields() -> None:
    record = mapped(shop_order_id="2824", payment_done="114.00")
    assert record.external_id == "1001" and record.number == "2824"
    assert (record.status, record.payment_status, record.payment_method) == (
        "confirmed", "paid", "Przelewy24")
    assert (record.currency, record.total, record.subtotal, record.shipping_total) == (
        "PLN", Decimal("114.00"), Decimal("99.00"), Decimal("15.00"))
    assert record.placed_at == T0 - timedelta(seconds=60)
    assert record.placed_at.tzinfo is not None and record.updated_at == T0
    assert record.shipping_method == "Kurier InPost"
    assert [(i.name, i.quantity, i.price, i.sku) for i in record.items] == [
        ("Kubek", 2, Decimal("49.50"), "KUB-1")]
    customer = record.customer
    assert customer is not None
    assert (customer.external_id, customer.email, customer.phone) == (
        "email:anna@example.pl", "anna@example.pl", "+48600100200")
    assert (customer.first_name, customer.last_name) == ("Anna", "Kowalska")
    assert record.cancelled_at is None and "shipped_at" not in record.model_fields_set


@pytest.mark.parametrize(("fields", "payment_status", "method"), [
    ({"payment_done": 0}, "pending", "Przelewy24"),
    ({"payment_done": "50.00"}, "partially_paid", "Przelewy24"),
    ({"payment_done": 200}, "paid", "Przelewy24"),
    ({"payment_method_cod": "1", "payment_method": "Pobranie"}, "pending", "cod"),
])
def test_payment(fields: dict[str, Any], payment_status: str, method: str) -> None:
    record = mapped(**fields)
    assert (record.payment_status, record.payment_method) == (payment_status, method)


@pytest.mark.parametrize(("fields", "name", "status"), [
    ({"order_status_id": 1051}, "Nowe", "confirmed"),             # unmapped: confirmed
    ({"order_status_id": 1051, "confirmed": False}, None, "pending"),
    ({"order_status_id": 1052}, "Wysłane", "shipped"),            # by id
    ({"order_status_id": 1053}, "Anulowane", "cancelled"),        # by name, any case
    ({"order_status_id": 1054}, "DOSTARCZONE", "delivered"),
])
def test_status_map(fields: dict[str, Any], name: str | None, status: str) -> None:
    assert mapped(status_name=name, **fields).status == status


def test_status_dates_come_from_date_in_status() -> None:
    moved = T0 + timedelta(days=1)
    cancelled = mapped("Anulowane", order_status_id=1053, date_in_status=ts(moved))
    assert cancelled.cancelled_at == moved and cancelled.updated_at == moved
    shipped = mapped(order_status_id=1052, date_in_status=ts(moved))
    assert shipped.shipped_at == moved and shipped.cancelled_at is None


def test_marketplace_buyer_is_known_by_login_and_bad_contact_data_is_dropped() -> None:
    record = mapped(order_source="allegro", user_login="kupujacy_77", phone="n/a",
                    email="not-an-email", shop_order_id=0, external_order_id="A-77")
    assert record.customer is not None
    assert record.customer.external_id == "allegro:kupujacy_77"
    assert (record.customer.email, record.customer.phone) == (None, None)
    assert record.number == "A-77"
    assert mapped(email="", phone="", user_login="").customer is None


def test_a_wrong_field_is_named() -> None:
    with pytest.raises(PayloadError, match=r"^order\.date_add: "):
        parse_order(order(1001, confirmed_at=T0, date_add="yesterday"))
    with pytest.raises(PayloadError, match=r"^order\.currency: "):
        mapped(currency="złotówki")


def test_parcel_with_courier_history() -> None:
    [pkg] = parse_packages({"packages": [package(5001, status=11)]})
    entries = parse_histories({"packages_history": {"5001": [
        history(11, T0 + timedelta(hours=20), "w_drodze"),
        history(1, T0, "created"),
        history(0, T0 + timedelta(hours=1)),              # unknown: says nothing
        history(2, T0 + timedelta(hours=5), "przyjeta"),
    ]}})["5001"]
    record = ADAPTER.shipment(pkg, entries, order_id=1001)
    assert record is not None
    assert (record.external_id, record.order_external_id, record.carrier,
            record.tracking_number) == ("5001", "1001", "inpost", "62005001")
    assert [(e.status, e.at) for e in record.events] == [
        ("label_created", T0), ("in_transit", T0 + timedelta(hours=5)),
        ("in_transit", T0 + timedelta(hours=20))]
    assert record.events[-1].message == "On the way (w_drodze)"
    assert record.shipped_at == T0 + timedelta(hours=5)
    assert record.updated_at == T0 + timedelta(hours=20)
    assert "status" not in record.model_fields_set  # the latest event decides


@pytest.mark.parametrize(("code", "status"), [
    (1, "label_created"), (2, "in_transit"), (3, "failed_delivery"), (4, "out_for_delivery"),
    (5, "delivered"), (6, "returned_to_sender"), (7, "attempted_delivery"),
    (8, "out_for_delivery"), (9, "lost"), (10, "pending"), (11, "in_transit"),
    (12, "exception"), (13, "in_transit"),
])
def test_courier_status_codes(code: int, status: str) -> None:
    [pkg] = parse_packages({"packages": [package(5001, status=code, at=T0)]})
    record = ADAPTER.shipment(pkg, [], order_id=1001)
    assert record is not None and record.status == status


def test_return_parcels_are_not_the_customers_delivery() -> None:
    pkgs = parse_packages({"packages": [package(1, is_return=True), package(2, package_type=1)]})
    assert [ADAPTER.shipment(p, [], order_id=1) for p in pkgs] == [None, None]


def test_journal_and_history_shapes() -> None:
    logs = parse_journal({"status": "SUCCESS", "logs": [
        {"log_id": 12, "log_type": 18, "order_id": 1, "object_id": 1052, "date": ts(T0)},
        {"id": 11, "log_type": 1, "order_id": 1, "object_id": 0, "date": ts(T0)}]})
    assert [(e.log_id, e.log_type) for e in logs] == [(11, 1), (12, 18)]
    assert parse_histories({"packages_history": []}) == {}
    one = parse_histories({"packages_history": {"7": history(5, T0)}})
    assert [e.tracking_status for e in one["7"]] == [5]
    with pytest.raises(PayloadError, match=r"getJournalList\.logs\.0\.log_type"):
        parse_journal({"logs": [{"log_id": 1, "log_type": "x", "order_id": 1}]})
