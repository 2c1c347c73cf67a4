"""The due rows of one scan batch and what rules see about them, in set-based Core queries.

A tick may meet tens of thousands of due rows. Building ORM objects for them (identity map,
attribute instrumentation, pydantic models) cost more than everything else a tick does, so
this module reads plain Core rows: one query for the batch's due rows, one per related table
(``IN`` over the whole batch), and only the columns a snapshot has. The rows go straight
into the frozen snapshots of :mod:`notifier.store.snapshots`, which read them by attribute
as they would an ORM row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from notifier.detect.bulk import among
from notifier.detect.facts import Facts
from notifier.domain import (
    CartSnapshot,
    CustomerSnapshot,
    OrderSnapshot,
    ShipmentSnapshot,
    frozen,
)
from notifier.store.snapshots import (
    cart_snapshot,
    customer_snapshot,
    order_snapshot,
    shipment_snapshot,
)
from notifier.store.tables import Cart, Customer, Order, Shipment
from notifier.transit.model import TransitModel

Row = Any  # a Core row: attribute access by column name


def _table(model: Any) -> sa.Table:
    return model.__table__  # type: ignore[no-any-return]


def _columns(model: Any, snapshot: type, *keys: str) -> tuple[sa.Column[Any], ...]:
    """The columns ``snapshot`` is built from (fields named like a column), plus ``keys``."""
    table = _table(model)
    wanted = {f.name for f in dataclasses.fields(snapshot)} | set(keys)
    return tuple(c for c in table.c if c.name in wanted)


_TABLES: dict[str, Any] = {"order": Order, "shipment": Shipment, "cart": Cart}
_SNAPSHOTS: dict[str, type] = {"order": OrderSnapshot, "shipment": ShipmentSnapshot,
                               "cart": CartSnapshot}
#: What the scan reads of each entity table: the snapshot's columns and the join keys.
_ENTITY_COLUMNS = {
    "order": _columns(Order, OrderSnapshot, "id", "customer_id"),
    "shipment": _columns(Shipment, ShipmentSnapshot, "id", "order_id"),
    "cart": _columns(Cart, CartSnapshot, "id", "customer_id"),
}
_CUSTOMER_COLUMNS = _columns(Customer, CustomerSnapshot, "id")
_SHIPMENT_COLUMNS = _columns(Shipment, ShipmentSnapshot, "id", "order_id")


def due_probe(kind: str, now: datetime) -> sa.ScalarSelect[Any]:
    """The id of a row of ``kind`` due at ``now``, else NULL: one index probe.

    Ordered by ``next_check_at`` like the batch query, so PostgreSQL walks that index.
    With ``EXISTS`` its planner may choose a sequential scan when its statistics expect
    many due rows (just after a big tick) and, none being left, read the whole table.
    """
    table = _table(_TABLES[kind])
    return (sa.select(table.c.id).where(table.c.next_check_at <= now)
            .order_by(table.c.next_check_at).limit(1).scalar_subquery())


def due_rows(conn: sa.Connection, kind: str, now: datetime, limit: int) -> Sequence[Row]:
    """Up to ``limit`` rows of ``kind`` whose ``next_check_at`` has come, earliest first.

    On PostgreSQL they are locked ``FOR UPDATE SKIP LOCKED``: concurrent workers take
    different rows, and a row comes back to the scan only after its batch committed.
    """
    table = _table(_TABLES[kind])
    stmt = (
        sa.select(*_ENTITY_COLUMNS[kind])
        .where(table.c.next_check_at <= now)
        .order_by(table.c.next_check_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return conn.execute(stmt).all()


def _by_id(conn: sa.Connection, columns: tuple[sa.Column[Any], ...],
           ids: Iterable[int | None]) -> dict[int, Row]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    table = columns[0].table
    stmt = sa.select(*columns).where(among(conn, table.c.id, wanted))
    return {r.id: r for r in conn.execute(stmt).all()}


def _latest_shipments(conn: sa.Connection, order_ids: list[int]) -> dict[int, Row]:
    """Each order's latest shipment (the highest id), the one an order's rules see."""
    if not order_ids:
        return {}
    table = _table(Shipment)
    latest: dict[int, Row] = {}
    stmt = sa.select(*_SHIPMENT_COLUMNS).where(among(conn, table.c.order_id, order_ids))
    for shipment in conn.execute(stmt).all():
        held = latest.get(shipment.order_id)
        if held is None or shipment.id > held.id:
            latest[shipment.order_id] = shipment
    return latest


def facts_of(conn: sa.Connection, kind: str, rows: Sequence[Row],
             transit: TransitModel | None = None) -> list[Facts]:
    """For each due row of ``kind``, the :class:`Facts` its rules are evaluated against.

    A shipment sees its order and the order's customer; an order sees its latest shipment
    and its customer; a cart sees its customer. Snapshots shared by several rows (one
    customer's orders) are built once.
    """
    if kind == "cart":
        customers = _by_id(conn, _CUSTOMER_COLUMNS, (r.customer_id for r in rows))
        people = {i: customer_snapshot(c) for i, c in customers.items()}
        return [frozen(Facts, {"customer": people.get(r.customer_id), "order": None,
                               "shipment": None, "cart": cart_snapshot(r),
                               "transit": transit}) for r in rows]
    if kind == "order":
        orders = {r.id: r for r in rows}
        shipments = _latest_shipments(conn, list(orders))
    else:
        orders = _by_id(conn, _ENTITY_COLUMNS["order"], (r.order_id for r in rows))
        shipments = {}
    customers = _by_id(conn, _CUSTOMER_COLUMNS, (o.customer_id for o in orders.values()))
    people = {i: customer_snapshot(c) for i, c in customers.items()}
    out = []
    for row in rows:
        order = orders.get(row.order_id) if kind == "shipment" else row
        shipment = row if kind == "shipment" else shipments.get(row.id)
        out.append(frozen(Facts, {
            "customer": people.get(order.customer_id) if order is not None else None,
            "order": order_snapshot(order) if order is not None else None,
            "shipment": shipment_snapshot(shipment) if shipment is not None else None,
            "cart": None,
            "transit": transit,
        }))
    return out
