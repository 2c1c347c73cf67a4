"""Apply canonical records to the store: upsert by (source, external_id), never go back.

Every function here runs inside the caller's transaction, so a webhook's records and its
inbound-event row commit together or not at all. A changed row gets ``next_check_at = now``
so the next detection tick looks at it again.

Rows are read and written with Core statements, not SQLModel instances: an order webhook
is ingest's hot path, and building, tracking and flushing ORM objects cost several times
the SQL itself. Each statement is built once (see the end of this module) and run with
parameters; reads select only the columns a merge needs. ORM instances of these tables
that a caller holds in the same session are not refreshed by what the applier writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from notifier.config import Settings
from notifier.ingest import push_subscriptions
from notifier.ingest.promises import promise
from notifier.ingest.records import (
    AnyRecord,
    CartDeleted,
    CartIn,
    ConsentIn,
    CustomerIn,
    OrderIn,
    Record,
    ShipmentIn,
)
from notifier.store import consent_log
from notifier.store.db import dialect_insert
from notifier.store.tables import Cart, Consent, Customer, Order, Shipment
from notifier.store.types import UTCDateTime

CUSTOMERS: sa.Table = Customer.__table__  # type: ignore[attr-defined]
CONSENTS: sa.Table = Consent.__table__  # type: ignore[attr-defined]
ORDERS: sa.Table = Order.__table__  # type: ignore[attr-defined]
SHIPMENTS: sa.Table = Shipment.__table__  # type: ignore[attr-defined]
CARTS: sa.Table = Cart.__table__  # type: ignore[attr-defined]

# What an order's and a shipment's merge reads of the stored row.
_ORDER_MERGE = ("placed_at", "ship_by", "deliver_by", "shipping_method", "discount_codes",
                "total", "currency")
_SHIPMENT_MERGE = ("order_id", "status", "eta", "shipped_at", "delivered_at", "last_event_at",
                   "events")

_DONE_SHIPMENT = {"delivered"}


@dataclass(frozen=True)
class Applied:
    """What one record did: ``applied``, ``stale`` (older than what we hold) or
    ``ignored`` (a deleted cart we never had)."""

    kind: str
    external_id: str
    outcome: str


class Applier:
    """Stores records from one source; ``now`` is when they were received."""

    def __init__(self, session: Session, settings: Settings, *, source: str, now: datetime,
                 event_id: int | None = None):
        self.session = session
        self.settings = settings
        self.source = source
        self.now = now
        self.event_id = event_id  # the inbound event carrying the records, for the trail

    def apply(self, record: AnyRecord) -> Applied:
        # Core statements do not autoflush: rows a caller added through the ORM must be
        # visible to them, as they were to ORM queries.
        self.session.flush()
        match record:
            case CustomerIn():
                kind, outcome = "customer", self.customer(record)[1]
            case OrderIn():
                kind, outcome = "order", self.order(record)
            case ShipmentIn():
                kind, outcome = "shipment", self.shipment(record)
            case CartIn():
                kind, outcome = "cart", self.cart(record)
            case CartDeleted():
                kind, outcome = "cart", self.cart_deleted(record)
        return Applied(kind, record.external_id, outcome)

    # -- rows ------------------------------------------------------------------------

    def _run(self, statement: sa.Executable,
             params: Mapping[str, Any] | list[dict[str, Any]]) -> sa.CursorResult[Any]:
        return self.session.connection().execute(statement, params)

    def _key(self, external_id: str) -> dict[str, Any]:
        """Parameters of :func:`_by_key`."""
        return {"key_source": self.source, "key_external_id": external_id}

    def _held(self, table: sa.Table, external_id: str | None,
              columns: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """The stored row's id, ``source_updated_at`` and ``columns``; None if there is none
        (or no ``external_id`` to look for)."""
        if not external_id:
            return None
        row = self._run(_lookup(table, columns), self._key(external_id)).mappings().first()
        return dict(row) if row is not None else None

    def _id_of(self, table: sa.Table, external_id: str | None) -> int | None:
        held = self._held(table, external_id)
        return held["id"] if held is not None else None

    @staticmethod
    def _stale(held: Mapping[str, Any] | None, record: Record) -> bool:
        at = held["source_updated_at"] if held is not None else None
        return bool(at and record.updated_at and record.updated_at < at)

    @staticmethod
    def _given(record: Record, *, skip: set[str]) -> dict[str, Any]:
        """The fields the sender set, by column name."""
        return {name: getattr(record, name) for name in record.given() - skip}

    def _touched(self, table: sa.Table, record: Record) -> dict[str, Any]:
        """What every write sets besides the record's fields."""
        values: dict[str, Any] = {"updated_at": self.now}
        if record.updated_at is not None:
            values["source_updated_at"] = record.updated_at
        if "next_check_at" in table.c:
            values["next_check_at"] = self.now
        return values

    def _save(self, table: sa.Table, record: Record, held: Mapping[str, Any] | None,
              values: dict[str, Any]) -> int:
        """Insert the row (the table's defaults fill the rest) or update the held one; its id.

        Two deliveries creating the same row at once make the second insert fail on the
        unique key; the caller's retry (``Ingestor.receive``) then finds and updates it.
        """
        values = values | self._touched(table, record)
        if held is None:
            params = {"source": self.source, "external_id": record.external_id, **values}
            return int(self._run(_insert(table), params).scalar_one())
        self._run(_update(table), {"row_id": held["id"], **values})
        return int(held["id"])

    # -- customers -------------------------------------------------------------------

    def customer(self, record: CustomerIn) -> tuple[int | None, str]:
        """The customer's id and outcome; an older snapshot than the stored one changes
        nothing (stale), checked by the database in the same statement as the write.

        Most appearances of a customer (inside every order and checkout) update a known
        row, so the UPDATE comes first: an upsert would take a PostgreSQL sequence number
        even when it updates. A new customer is inserted with ``ON CONFLICT DO UPDATE``:
        two deliveries creating the same buyer at once end in one row, without a retry.
        """
        values = self._given(record, skip={"consents", "push_subscriptions"})
        if record.push_subscriptions is not None:
            values["push_subscriptions"] = [s.model_dump() for s in record.push_subscriptions]
        values |= self._touched(CUSTOMERS, record)
        guarded = record.updated_at is not None
        customer_id = self._run(_update_fresh(CUSTOMERS, guarded), {
            **self._key(record.external_id), "key_updated_at": record.updated_at, **values,
        }).scalar()
        if customer_id is None:
            upsert = _upsert(dialect_insert(self.session), CUSTOMERS, frozenset(values))
            params = {"source": self.source, "external_id": record.external_id, **values}
            customer_id = self._run(upsert, params).scalar()
        if customer_id is None:
            return self._id_of(CUSTOMERS, record.external_id), "stale"
        self._consents(customer_id, record.consents)
        return customer_id, "applied"

    def _consents(self, customer_id: int, consents: Iterable[ConsentIn]) -> None:
        """Each channel and purpose keeps the customer's newest word, judged by
        :func:`consent_log.judge` (an opt-out is never reversed without a newer action of
        the customer); every change and every refusal goes to the audit trail. One read
        for all of them; the customer's row, written just before, keeps a concurrent
        delivery out until commit.
        """
        newest: dict[tuple[str, str], ConsentIn] = {}
        for consent in consents:
            seen = newest.get((consent.channel, consent.purpose))
            if seen is None or _later(consent.at, seen.at):
                newest[(consent.channel, consent.purpose)] = consent
        if not newest:
            return
        stored = {(row.channel, row.purpose): row
                  for row in self._run(_consents_of(), {"row_id": customer_id})}
        inserts, updates = [], []
        for key, consent in newest.items():
            word = consent_log.Word(consent.channel, consent.purpose, consent.granted,
                                    consent.at, consent.source)
            row = stored.get(key)
            held = consent_log.Held(row.granted, row.at, row.source) if row is not None else None
            verdict = consent_log.judge(held, word)
            if verdict.log:
                consent_log.log_change(self.session, customer_id=customer_id, word=word,
                                       verdict=verdict, now=self.now, event_id=self.event_id)
            if not verdict.apply:
                continue
            values = {"granted": consent.granted,
                      "at": consent_log.stored_at(held, word, self.now), "source": consent.source}
            if row is None:
                inserts.append({"customer_id": customer_id, "channel": consent.channel,
                                "purpose": consent.purpose, **values})
            else:
                updates.append({"row_id": row.id, **values})
        if inserts:
            self._run(_insert(CONSENTS), inserts)
        if updates:
            self._run(_update(CONSENTS), updates)

    def _customer_id(self, customer: CustomerIn | None) -> int | None:
        return self.customer(customer)[0] if customer is not None else None

    # -- orders ----------------------------------------------------------------------

    def order(self, record: OrderIn) -> str:
        held = self._held(ORDERS, record.external_id, _ORDER_MERGE)
        if self._stale(held, record):
            return "stale"
        values = self._given(record, skip={"customer", "items", "cart_external_id"})
        if held is None:
            values = {"status": record.status, "currency": record.currency} | values
            # A new order sent without its placement time was placed when it reached us
            # (an API client posting as the sale happens): it gets its promise from that.
            values.setdefault("placed_at", self.now)
        if "items" in record.given():
            values["items"] = [item.model_dump(mode="json") for item in record.items]
        if record.customer is not None:
            values["customer_id"] = self._customer_id(record.customer)
        row = _merged(ORDERS, held, values, _ORDER_MERGE)
        values |= self._promise(row)
        order_id = self._save(ORDERS, record, held, values)
        if held is not None:
            # Shipment rules read the order too (a new promise starts a new episode of
            # shipment.late): its parcels are looked at again.
            self._run(_recheck_parcels(), {"row_id": order_id, "next_check_at": self.now})
        if record.cart_external_id and record.status != "cancelled":
            self._run(_complete_cart(), {
                **self._key(record.cart_external_id), "cart_order_id": order_id,
                "order_external_id": record.external_id,
                "new_completed_at": record.placed_at or self.now, "next_check_at": self.now,
            })
        return "applied"

    def _promise(self, row: Mapping[str, Any]) -> dict[str, datetime]:
        """Ship-by and deliver-by for an order placed without them (from the service level
        of its shipping method); a date the sender gave is kept."""
        if row["placed_at"] is None or (row["ship_by"] and row["deliver_by"]):
            return {}
        level = self.settings.service_levels.for_method(row["shipping_method"])
        ship_by, deliver_by = promise(
            row["placed_at"], level, country=self.settings.shop.country,
            timezone=self.settings.shop.timezone,
        )
        return {"ship_by": row["ship_by"] or ship_by, "deliver_by": row["deliver_by"] or deliver_by}

    # -- shipments -------------------------------------------------------------------

    def shipment(self, record: ShipmentIn) -> str:
        held = self._held(SHIPMENTS, record.external_id, _SHIPMENT_MERGE)
        if self._stale(held, record):
            return "stale"
        values = self._given(record, skip={"events", "order_external_id"})
        order_id = self._id_of(ORDERS, record.order_external_id)
        if order_id is not None:
            values["order_id"] = order_id
        row = _merged(SHIPMENTS, held, values, _SHIPMENT_MERGE)
        self._merge_events(row, record)
        if row["status"] == "delivered" and row["delivered_at"] is None:
            row["delivered_at"] = row["last_event_at"] or self.now
        if row["status"] not in {"pending", "label_created"} and row["shipped_at"] is None:
            row["shipped_at"] = row["last_event_at"] or self.now
        self._save(SHIPMENTS, record, held, values | row)
        self._roll_up(row["order_id"])
        return "applied"

    def _merge_events(self, row: dict[str, Any], record: ShipmentIn) -> None:
        """Tracking events accumulate; a redelivered event (same id or same moment and
        status) is kept once, and the latest one sets the status and ETA."""
        if not record.events:
            return
        known = {(e.get("id") or f"{e['at']}|{e['status']}") for e in row["events"]}
        events = list(row["events"])
        for event in record.events:
            data = event.model_dump(mode="json")
            key = data.get("id") or f"{data['at']}|{data['status']}"
            if key not in known:
                known.add(key)
                events.append(data)
        events.sort(key=lambda e: e["at"])
        row["events"] = events
        latest = max(record.events, key=lambda e: e.at)
        if row["last_event_at"] is None or latest.at >= row["last_event_at"]:
            row["last_event_at"] = latest.at
            if "status" not in record.given():
                row["status"] = latest.status
            if latest.eta is not None and "eta" not in record.given():
                row["eta"] = latest.eta

    def _roll_up(self, order_id: int | None) -> None:
        """An order is shipped when any parcel left and delivered when all arrived."""
        if order_id is None:
            return
        order = self._run(_order_progress(), {"row_id": order_id}).first()
        if order is None:
            return
        parcels = self._run(_parcels(), {"row_id": order_id}).all()
        status, shipped_at, delivered_at = order.status, order.shipped_at, order.delivered_at
        shipped = [p.shipped_at for p in parcels if p.shipped_at]
        if shipped and shipped_at is None:
            shipped_at = min(shipped)
        if parcels and all(p.status in _DONE_SHIPMENT for p in parcels):
            delivered_at = delivered_at or max(p.delivered_at or self.now for p in parcels)
            status = "delivered" if status != "cancelled" else status
        elif shipped_at and status in {"pending", "confirmed"}:
            status = "shipped"
        self._run(_update(ORDERS), {"row_id": order_id, "status": status,
                                    "shipped_at": shipped_at, "delivered_at": delivered_at,
                                    "next_check_at": self.now})

    # -- carts -----------------------------------------------------------------------

    def cart(self, record: CartIn) -> str:
        held = self._held(CARTS, record.external_id)
        if self._stale(held, record):
            return "stale"
        values = self._given(record, skip={"customer", "items"})
        if "items" in record.given():
            values["items"] = [item.model_dump(mode="json") for item in record.items]
        if record.customer is not None:
            values["customer_id"] = self._customer_id(record.customer)
        order_id = self._id_of(ORDERS, record.order_external_id)
        if order_id is not None:
            values["order_id"] = order_id
        self._save(CARTS, record, held, values)
        if values.get("customer_id") is not None:
            # The storefront names the cart by its token: our key, or Shopify's cart_token.
            tokens = {record.external_id, record.alias} - {None}
            push_subscriptions.link_cart(self.session, cart_tokens=tokens,
                                         customer_id=values["customer_id"], now=self.now)
        return "applied"

    def cart_deleted(self, record: CartDeleted) -> str:
        """``ignored`` when we never stored the cart; the first deletion time stays."""
        params = {**self._key(record.external_id), "new_deleted_at": record.at,
                  "next_check_at": self.now, "key_alias": record.alias}
        return "applied" if self._run(_delete_cart(), params).rowcount else "ignored"


def _later(a: datetime | None, b: datetime | None) -> bool:
    """``a`` is at least as late as ``b``; a word without a time counts as the oldest."""
    return b is None or (a is not None and a >= b)


def _merged(table: sa.Table, held: Mapping[str, Any] | None, values: Mapping[str, Any],
            columns: Iterable[str]) -> dict[str, Any]:
    """``columns`` of the row as it will be once ``values`` are written: the held row's, or
    a new row's defaults, overlaid with ``values``."""
    base = held if held is not None else {name: _default(table.c[name]) for name in columns}
    return {name: values.get(name, base[name]) for name in columns}


def _default(column: sa.Column[Any]) -> Any:
    default = column.default
    if default is None:
        return None
    return default.arg(None) if default.is_callable else default.arg  # type: ignore[attr-defined]


# -- statements, built once ------------------------------------------------------------
# Building a statement and its cache key costs about as much as running it, so each one
# is built on first use and run with parameters. INSERT and UPDATE take their columns
# from the parameters' keys; WHERE parameters are named key_* / row_id so they never
# collide with a column.


def _by_key(table: sa.Table) -> sa.ColumnElement[bool]:
    return sa.and_(table.c.source == sa.bindparam("key_source"),
                   table.c.external_id == sa.bindparam("key_external_id"))


@cache
def _lookup(table: sa.Table, columns: tuple[str, ...]) -> sa.Select[Any]:
    return sa.select(table.c.id, table.c.source_updated_at,
                     *(table.c[name] for name in columns)).where(_by_key(table))


@cache
def _insert(table: sa.Table) -> sa.Insert:
    return sa.insert(table).returning(table.c.id)


@cache
def _update(table: sa.Table) -> sa.Update:
    return sa.update(table).where(table.c.id == sa.bindparam("row_id"))


def _fresh(table: sa.Table, sent: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """The stored ``source_updated_at`` is not later than ``sent``: the write goes ahead."""
    stored = table.c.source_updated_at
    return stored.is_(None) | (stored <= sent)


@cache
def _update_fresh(table: sa.Table, guarded: bool) -> sa.Update:
    """UPDATE by (source, external_id), unless ``guarded`` and the stored row is newer than
    ``key_updated_at``; returns the id."""
    stmt = sa.update(table).where(_by_key(table))
    if guarded:
        stmt = stmt.where(_fresh(table, sa.bindparam("key_updated_at", type_=UTCDateTime)))
    return stmt.returning(table.c.id)


@cache
def _upsert(insert: Callable[[sa.Table], Any], table: sa.Table,
            columns: frozenset[str]) -> sa.Insert:
    """``INSERT ... ON CONFLICT (source, external_id) DO UPDATE SET columns``, guarded like
    :func:`_update_fresh` when ``source_updated_at`` is among them; returns the id."""
    stmt = insert(table)
    fresh = (_fresh(table, stmt.excluded.source_updated_at)
             if "source_updated_at" in columns else None)
    return stmt.on_conflict_do_update(
        index_elements=["source", "external_id"],
        set_={name: stmt.excluded[name] for name in sorted(columns)}, where=fresh,
    ).returning(table.c.id)


@cache
def _consents_of() -> sa.Select[Any]:
    c = CONSENTS.c
    return (sa.select(c.id, c.channel, c.purpose, c.granted, c.at, c.source)
            .where(c.customer_id == sa.bindparam("row_id")))


@cache
def _complete_cart() -> sa.Update:
    """The checkout an order came from is completed by it; the first completion time stays.
    One UPDATE, no read: most orders name a cart we never stored."""
    order_id = sa.bindparam("cart_order_id")
    return (sa.update(CARTS)
            .where(_by_key(CARTS), CARTS.c.order_id.is_distinct_from(order_id))
            .values(order_id=order_id, completed_at=_kept(CARTS.c.completed_at)))


@cache
def _delete_cart() -> sa.Update:
    """By the cart's key, or by its alias (a NULL alias matches nothing)."""
    by_alias = sa.and_(CARTS.c.source == sa.bindparam("key_source"),
                       CARTS.c.alias == sa.bindparam("key_alias"))
    return (sa.update(CARTS).where(sa.or_(_by_key(CARTS), by_alias))
            .values(deleted_at=_kept(CARTS.c.deleted_at)))


def _kept(column: sa.Column[Any]) -> sa.ColumnElement[Any]:
    """``column`` if it is set, else the parameter of its name (bound as the column's type,
    so UTC is enforced)."""
    return sa.func.coalesce(column, sa.bindparam(f"new_{column.name}", type_=column.type))


@cache
def _order_progress() -> sa.Select[Any]:
    o = ORDERS.c
    return sa.select(o.status, o.shipped_at, o.delivered_at).where(o.id == sa.bindparam("row_id"))


@cache
def _recheck_parcels() -> sa.Update:
    return (sa.update(SHIPMENTS).where(SHIPMENTS.c.order_id == sa.bindparam("row_id"))
            .values(next_check_at=sa.bindparam("next_check_at")))


@cache
def _parcels() -> sa.Select[Any]:
    s = SHIPMENTS.c
    return (sa.select(s.status, s.shipped_at, s.delivered_at)
            .where(s.order_id == sa.bindparam("row_id")))
