"""Builders for detection tests: snapshots with sensible defaults and rules from TOML text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from notifier.detect.rules import Rule, parse_rule
from notifier.domain import (
    CartSnapshot,
    CustomerSnapshot,
    LineItem,
    OrderSnapshot,
    ShipmentSnapshot,
    TrackingEvent,
)

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)  # a Monday noon
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def at(hours: float = 0, *, days: float = 0) -> datetime:
    return T0 + timedelta(hours=hours, days=days)


def customer(**kw: Any) -> CustomerSnapshot:
    return CustomerSnapshot(**{"id": 7, "email": "ala@example.pl", **kw})


def cart(**kw: Any) -> CartSnapshot:
    defaults: dict[str, Any] = {
        "id": 1,
        "currency": "PLN",
        "value": Decimal("149.99"),
        "items": (LineItem(name="Kubek", price=Decimal("149.99")),),
        "email": "ala@example.pl",
        "last_activity_at": T0,
    }
    return CartSnapshot(**{**defaults, **kw})


def order(**kw: Any) -> OrderSnapshot:
    defaults: dict[str, Any] = {
        "id": 10,
        "external_id": "1001",
        "number": "#1001",
        "status": "confirmed",
        "payment_status": "paid",
        "currency": "PLN",
        "total": Decimal("250.00"),
        "placed_at": T0 - 2 * DAY,
        "ship_by": T0,
        "deliver_by": T0 + 2 * DAY,
    }
    return OrderSnapshot(**{**defaults, **kw})


def event(hours: float, status: str) -> TrackingEvent:
    return TrackingEvent(at=at(hours), status=status)


def shipment(**kw: Any) -> ShipmentSnapshot:
    defaults: dict[str, Any] = {
        "id": 20,
        "status": "in_transit",
        "carrier": "inpost",
        "shipped_at": T0,
        "last_event_at": T0,
        "events": (TrackingEvent(at=T0, status="in_transit"),),
    }
    return ShipmentSnapshot(**{**defaults, **kw})


def rule(trigger: str, *, steps: tuple[str, ...] = ("0h",), extra: str = "", **params: str) -> Rule:
    """A rule for ``trigger`` with one step per delay; ``extra`` adds top-level TOML lines."""
    lines = [
        f'name = "test-{trigger.replace(".", "-")}"',
        f'trigger = "{trigger}"',
        'purpose = "transactional"',
        'channels = ["email", "sms"]',
        extra,
        "[params]",
        *(f"{key} = {value}" for key, value in params.items()),
    ]
    for i, delay in enumerate(steps):
        lines += ["[[steps]]", f'delay = "{delay}"', f'template = "t{i}"']
    return parse_rule("\n".join(lines))
