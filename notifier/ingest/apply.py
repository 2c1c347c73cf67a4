"""Apply canonical records to the store: upsert by (source, external_id), never go back.

Every function here runs inside the caller's transaction, so a webhook's records and its
inbound-event row commit together or not at all. A changed row gets ``next_check_at = now``
so the next detection tick looks at it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, select

from notifier.config import Settings
from notifier.ingest.promises import promise
from notifier.ingest.records import (
    AnyRecord,
    CartDeleted,
    CartIn,
    CustomerIn,
    OrderIn,
    Record,
    ShipmentIn,
)
from notifier.offers.redemption import redeem
from notifier.store.tables import Cart, Consent, Customer, Order, Shipment

Row = TypeVar("Row", Customer, Order, Shipment, Cart)

_DONE_SHIPMENT = {"delivered"}


@dataclass(frozen=True)
class Applied:
    """What one record did: ``applied`` or ``stale`` (older than what we hold)."""

    kind: str
    external_id: str
    outcome: str


class Applier:
    """Stores records from one source; ``now`` is when they were received."""

    def __init__(self, session: Session, settings: Settings, *, source: str, now: datetime):
        self.session = session
        self.settings = settings
        self.source = source
        self.now = now

    def apply(self, record: AnyRecord) -> Applied:
        match record:
            case CustomerIn():
                row, outcome = self.customer(record)
            case OrderIn():
                row, outcome = self.order(record)
            case ShipmentIn():
                row, outcome = self.shipment(record)
            case CartIn():
                row, outcome = self.cart(record)
            case CartDeleted():
                return self.cart_deleted(record)
        return Applied(type(row).__name__.lower(), record.external_id, outcome)

    # -- rows ------------------------------------------------------------------------

    def _find(self, table: type[Row], external_id: str) -> Row | None:
        stmt = select(table).where(table.source == self.source, table.external_id == external_id)
        return self.session.exec(stmt).first()

    def _stale(self, row: SQLModel | None, record: Record) -> bool:
        held = getattr(row, "source_updated_at", None)
        return bool(held and record.updated_at and record.updated_at < held)

    def _touch(self, row: SQLModel, record: Record) -> None:
        if record.updated_at is not None:
            row.source_updated_at = record.updated_at  # type: ignore[attr-defined]
        row.updated_at = self.now  # type: ignore[attr-defined]
        if hasattr(row, "next_check_at"):
            row.next_check_at = self.now  # type: ignore[attr-defined]
        self.session.add(row)

    def _upsert(self, table: type[Row], record: Record, *, skip: set[str],
                **create: Any) -> tuple[Row, bool]:
        """The row for ``record`` with the fields the sender set copied in, and whether
        it is fresh (False: older than what we hold, left untouched)."""
        row = self._find(table, record.external_id)
        if row is not None and self._stale(row, record):
            return row, False
        if row is None:
            row = table(source=self.source, external_id=record.external_id, **create)
        for name in record.given() - skip:
            setattr(row, name, getattr(record, name))
        return row, True

    def customer(self, record: CustomerIn) -> tuple[Customer, str]:
        row, fresh = self._upsert(Customer, record, skip={"consents", "push_subscriptions"})
        if not fresh:
            return row, "stale"
        if record.push_subscriptions is not None:
            row.push_subscriptions = [s.model_dump() for s in record.push_subscriptions]
        self._touch(row, record)
        self.session.flush()
        for consent in record.consents:
            self._consent(row, consent.channel, consent.purpose, consent.granted, consent.at,
                          consent.source)
        return row, "applied"

    def _consent(
        self, customer: Customer, channel: str, purpose: str, granted: bool, at: datetime,
        source: str,
    ) -> None:
        stmt = select(Consent).where(
            Consent.customer_id == customer.id, Consent.channel == channel,
            Consent.purpose == purpose,
        )
        row = self.session.exec(stmt).first()
        if row is not None and row.at > at:
            return  # an older word never overrides a newer one
        if row is None:
            row = Consent(customer_id=customer.id, channel=channel, purpose=purpose,
                          granted=granted, at=at, source=source)
        row.granted, row.at, row.source = granted, at, source
        self.session.add(row)

    def _customer_id(self, customer: CustomerIn | None) -> int | None:
        if customer is None:
            return None
        row, _ = self.customer(customer)
        return row.id

    def order(self, record: OrderIn) -> tuple[Order, str]:
        row, fresh = self._upsert(Order, record, skip={"customer", "items", "cart_external_id"},
                                  status=record.status, currency=record.currency)
        if not fresh:
            return row, "stale"
        if "items" in record.given():
            row.items = [item.model_dump(mode="json") for item in record.items]
        if record.customer is not None:
            row.customer_id = self._customer_id(record.customer)
        self._promise(row)
        self._touch(row, record)
        self.session.flush()
        if row.discount_codes and row.id is not None:
            # An order carrying a code we issued redeems that offer (revenue attributed).
            redeem(self.session, order_id=row.id, codes=list(row.discount_codes),
                   order_total=row.total, currency=row.currency, now=self.now)
        if record.cart_external_id and record.status != "cancelled":
            self._complete_cart(record.cart_external_id, row, record.placed_at or self.now)
        return row, "applied"

    def _promise(self, row: Order) -> None:
        if row.placed_at is None or (row.ship_by and row.deliver_by):
            return
        level = self.settings.service_levels.for_method(row.shipping_method)
        ship_by, deliver_by = promise(
            row.placed_at, level, country=self.settings.shop.country,
            timezone=self.settings.shop.timezone,
        )
        row.ship_by = row.ship_by or ship_by
        row.deliver_by = row.deliver_by or deliver_by

    def _complete_cart(self, cart_external_id: str, order: Order, at: datetime) -> None:
        cart = self._find(Cart, cart_external_id)
        if cart is None or cart.order_id == order.id:
            return
        cart.completed_at = cart.completed_at or at
        cart.order_id = order.id
        cart.order_external_id = order.external_id
        cart.next_check_at = self.now
        self.session.add(cart)

    def shipment(self, record: ShipmentIn) -> tuple[Shipment, str]:
        row, fresh = self._upsert(Shipment, record, skip={"events", "order_external_id"})
        if not fresh:
            return row, "stale"
        if record.order_external_id:
            order = self._find(Order, record.order_external_id)
            row.order_id = order.id if order else row.order_id
        self._merge_events(row, record)
        if row.status == "delivered" and row.delivered_at is None:
            row.delivered_at = row.last_event_at or self.now
        if row.status not in {"pending", "label_created"} and row.shipped_at is None:
            row.shipped_at = row.last_event_at or self.now
        self._touch(row, record)
        self.session.flush()
        self._roll_up(row)
        return row, "applied"

    def _merge_events(self, row: Shipment, record: ShipmentIn) -> None:
        """Tracking events accumulate; a redelivered event (same id or same moment and
        status) is kept once, and the latest one sets the status and ETA."""
        if not record.events:
            return
        known = {(e.get("id") or f"{e['at']}|{e['status']}") for e in row.events}
        events = list(row.events)
        for event in record.events:
            data = event.model_dump(mode="json")
            key = data.get("id") or f"{data['at']}|{data['status']}"
            if key not in known:
                known.add(key)
                events.append(data)
        events.sort(key=lambda e: e["at"])
        row.events = events
        latest = max(record.events, key=lambda e: e.at)
        if row.last_event_at is None or latest.at >= row.last_event_at:
            row.last_event_at = latest.at
            if "status" not in record.given():
                row.status = latest.status
            if latest.eta is not None and "eta" not in record.given():
                row.eta = latest.eta

    def _roll_up(self, shipment: Shipment) -> None:
        """An order is shipped when any parcel left and delivered when all arrived."""
        if shipment.order_id is None:
            return
        order = self.session.get(Order, shipment.order_id)
        if order is None:
            return
        parcels = self.session.exec(select(Shipment).where(Shipment.order_id == order.id)).all()
        shipped = [p.shipped_at for p in parcels if p.shipped_at]
        if shipped and order.shipped_at is None:
            order.shipped_at = min(shipped)
        if parcels and all(p.status in _DONE_SHIPMENT for p in parcels):
            order.delivered_at = order.delivered_at or max(
                p.delivered_at or self.now for p in parcels
            )
            order.status = "delivered" if order.status != "cancelled" else order.status
        elif order.shipped_at and order.status in {"pending", "confirmed"}:
            order.status = "shipped"
        order.next_check_at = self.now
        self.session.add(order)

    def cart(self, record: CartIn) -> tuple[Cart, str]:
        row, fresh = self._upsert(Cart, record, skip={"customer", "items"},
                                  currency=record.currency)
        if not fresh:
            return row, "stale"
        if "items" in record.given():
            row.items = [item.model_dump(mode="json") for item in record.items]
        if record.customer is not None:
            row.customer_id = self._customer_id(record.customer)
        if record.order_external_id:
            order = self._find(Order, record.order_external_id)
            row.order_id = order.id if order else row.order_id
        self._touch(row, record)
        return row, "applied"

    def cart_deleted(self, record: CartDeleted) -> Applied:
        row = self._find(Cart, record.external_id)
        if row is None:
            return Applied("cart", record.external_id, "ignored")
        row.deleted_at = row.deleted_at or record.at
        row.next_check_at = self.now
        self.session.add(row)
        return Applied("cart", record.external_id, "applied")
