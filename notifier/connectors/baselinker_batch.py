"""What one BaseLinker read produced, and storing it inside the caller's transaction.

A :class:`Batch` is built from API answers with no database at hand; :func:`apply_batch`
stores it with the :class:`~notifier.ingest.apply.Applier` in the same transaction that
moves the connector's position, so both commit or neither does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from notifier.config import Settings
from notifier.ingest.apply import Applier
from notifier.ingest.baselinker import SOURCE, BaseLinkerAdapter
from notifier.ingest.records import OrderIn, ShipmentIn
from notifier.store.tables import InboundEvent, Order, Shipment


@dataclass(frozen=True)
class Rejected:
    """A payload we could not map: kept raw in ``inbound_events`` with the reason."""

    topic: str  # "order" or "package"
    external_id: str
    error: str
    payload: str

    def __str__(self) -> str:
        return f"{self.topic} {self.external_id}: {self.error}"


@dataclass(frozen=True)
class Batch:
    orders: tuple[OrderIn, ...] = ()
    shipments: tuple[ShipmentIn, ...] = ()
    #: Orders BaseLinker no longer returns (deleted or merged away), with when we learned it.
    gone_orders: tuple[tuple[str, datetime], ...] = ()
    #: Parcels deleted in BaseLinker: their tracking stops meaning anything.
    deleted_packages: tuple[str, ...] = ()
    rejected: tuple[Rejected, ...] = ()

    def __add__(self, other: Batch) -> Batch:
        return Batch(self.orders + other.orders, self.shipments + other.shipments,
                     self.gone_orders + other.gone_orders,
                     self.deleted_packages + other.deleted_packages,
                     self.rejected + other.rejected)


@dataclass(frozen=True)
class Stored:
    """Counts of one stored batch."""

    orders: int = 0
    shipments: int = 0
    stale: int = 0
    rejected: tuple[str, ...] = ()


def apply_batch(session: Session, settings: Settings, batch: Batch, *, now: datetime,
                adapter: BaseLinkerAdapter) -> Stored:
    """Upsert the batch's records (orders before their parcels); runs in the caller's
    transaction and commits nothing itself."""
    applier = Applier(session, settings, source=SOURCE, now=now)
    orders = shipments = stale = 0
    for order in batch.orders:
        if applier.apply(order).outcome == "stale":
            stale += 1
        else:
            orders += 1
    for external_id, at in batch.gone_orders:
        held = _held(session, Order, external_id)
        if held is not None and held.status != "cancelled":
            applier.apply(adapter.cancelled(external_id, currency=held.currency,
                                            total=held.total, at=at))
            orders += 1
    for shipment in batch.shipments:
        if applier.apply(shipment).outcome == "stale":
            stale += 1
        else:
            shipments += 1
    for external_id in batch.deleted_packages:
        if _held(session, Shipment, external_id) is not None:
            applier.apply(ShipmentIn(external_id=external_id, status="pending"))
            shipments += 1
    for rejected in batch.rejected:
        session.add(InboundEvent(source=SOURCE, topic=rejected.topic, payload=rejected.payload,
                                 received_at=now, outcome="rejected", error=rejected.error))
    return Stored(orders, shipments, stale, tuple(str(r) for r in batch.rejected))


def _held(session: Session, table: type[Order] | type[Shipment],
          external_id: str) -> Order | Shipment | None:
    stmt = select(table).where(table.source == SOURCE, table.external_id == external_id)
    return session.exec(stmt).first()
