"""What rules see about a batch of entity rows, read in set-based Core queries.

A detection tick meets tens of thousands of due rows, and dispatch decides hundreds of
messages a batch. Building ORM objects for them (identity map, attribute
instrumentation, pydantic models) cost more than everything else either does, so this
module reads plain Core rows: one query per related table (``IN`` over the whole batch),
and only the columns a snapshot has. The rows go straight into the frozen snapshots of
:mod:`notifier.store.snapshots`, which read them by attribute as they would an ORM row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from notifier.domain import (
    CartSnapshot,
    CustomerSnapshot,
    Facts,
    OrderSnapshot,
    ShipmentSnapshot,
    frozen,
)
from notifier.store.lists import among
from notifier.store.snapshots import (
    cart_snapshot,
    customer_snapshot,
    order_snapshot,
    shipment_snapshot,
)
from notifier.store.tables import Cart, Customer, Order, Shipment
from notifier.transit.model import TransitModel

Row = Any  # a Core row: attribute access by column name


class _Columns:
    """A row's values as plain attributes.

    Reading a SQLAlchemy ``Row`` by attribute costs about 0.3 µs a column here, which made
    an order's snapshot (20 columns) 8 µs; copying the row into an instance's ``__dict__``
    once and reading that costs 3 µs in all.
    """


def _plain(rows: Sequence[Row]) -> list[Any]:
    """``rows`` (Core rows of one query) as :class:`_Columns`; other rows (ORM objects,
    already plain) as they are."""
    if not rows or not isinstance(rows[0], sa.Row):
        return list(rows)
    names = rows[0]._fields
    out = []
    for row in rows:
        plain = object.__new__(_Columns)
        plain.__dict__ = dict(zip(names, row, strict=True))
        out.append(plain)
    return out


def _columns(model: Any, snapshot: type, *keys: str) -> tuple[sa.Column[Any], ...]:
    """The columns ``snapshot`` is built from (fields named like a column), plus ``keys``."""
    table = model.__table__
    wanted = {f.name for f in dataclasses.fields(snapshot)} | set(keys)
    return tuple(c for c in table.c if c.name in wanted)


#: What to read of each entity table for :func:`facts_of`: the snapshot's columns and the
#: join keys.
ENTITY_COLUMNS = {
    "order": _columns(Order, OrderSnapshot, "id", "customer_id"),
    "shipment": _columns(Shipment, ShipmentSnapshot, "id", "order_id"),
    "cart": _columns(Cart, CartSnapshot, "id", "customer_id"),
}
_CUSTOMER_COLUMNS = _columns(Customer, CustomerSnapshot, "id")
_SHIPMENT_COLUMNS = _columns(Shipment, ShipmentSnapshot, "id", "order_id")


def _by_id(conn: sa.Connection, columns: tuple[sa.Column[Any], ...],
           ids: Iterable[int | None]) -> dict[int, Row]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    table = columns[0].table
    stmt = sa.select(*columns).where(among(conn, table.c.id, wanted))
    return {r.id: r for r in _plain(conn.execute(stmt).all())}


def _latest_shipments(conn: sa.Connection, order_ids: list[int]) -> dict[int, Row]:
    """Each order's latest shipment (the highest id), the one an order's rules see."""
    if not order_ids:
        return {}
    table = Shipment.__table__  # type: ignore[attr-defined]
    latest: dict[int, Row] = {}
    stmt = sa.select(*_SHIPMENT_COLUMNS).where(among(conn, table.c.order_id, order_ids))
    for shipment in _plain(conn.execute(stmt).all()):
        held = latest.get(shipment.order_id)
        if held is None or shipment.id > held.id:
            latest[shipment.order_id] = shipment
    return latest


def facts_of(conn: sa.Connection, kind: str, rows: Sequence[Row],
             transit: TransitModel | None = None) -> list[Facts]:
    """For each row of ``kind`` (with at least its :data:`ENTITY_COLUMNS`), the
    :class:`~notifier.domain.Facts` its rules are evaluated against.

    A shipment sees its order and the order's customer; an order sees its latest shipment
    and its customer; a cart sees its customer. Snapshots shared by several rows (one
    customer's orders) are built once.
    """
    rows = _plain(rows)
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
        orders = _by_id(conn, ENTITY_COLUMNS["order"], (r.order_id for r in rows))
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


def facts_in(session: Session, kind: str, rows: Sequence[Row],
             transit: TransitModel | None = None) -> list[Facts]:
    """:func:`facts_of` inside an ORM session, for ORM rows of ``kind`` (a preview, a
    simulation, an escalation): its pending changes are flushed first, as an ORM query
    would, so the related rows read are the ones the session sees."""
    session.flush()
    return facts_of(session.connection(), kind, rows, transit)
