import pytest

from notifier.detect.statuses import (
    OrderStatus,
    ShipmentStatus,
    is_cash_on_delivery,
    order_status,
    shipment_status,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("in_transit", ShipmentStatus.IN_TRANSIT),
        ("Out-for-delivery", ShipmentStatus.OUT_FOR_DELIVERY),
        ("returned", ShipmentStatus.RETURNED_TO_SENDER),
        ("exception", ShipmentStatus.EXCEPTION),
        ("shipped", ShipmentStatus.IN_TRANSIT),
        ("something else", None),
        ("", None),
        (None, None),
    ],
)
def test_shipment_status(raw: str | None, expected: ShipmentStatus | None) -> None:
    assert shipment_status(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Confirmed", OrderStatus.CONFIRMED), ("canceled", OrderStatus.CANCELLED), ("x", None)],
)
def test_order_status(raw: str, expected: OrderStatus | None) -> None:
    assert order_status(raw) is expected


@pytest.mark.parametrize(
    ("method", "expected"),
    [("cod", True), ("Cash on delivery", True), ("pobranie", True), ("card", False), (None, False)],
)
def test_cash_on_delivery(method: str | None, expected: bool) -> None:
    assert is_cash_on_delivery(method) is expected
