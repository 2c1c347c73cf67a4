"""Apply many records in one transaction with statements per batch, not per record.

    results = BatchApplier(session, settings).apply([Batched(record, "shopify", now, event_id)])

Orders and customers (an order webhook's whole content, the hot path of a sale) are
applied set-based: one read per table for the batch's keys, the merge and staleness
decided in Python exactly as :class:`~notifier.ingest.apply.Applier` decides them, then one
multi-row INSERT and one executemany UPDATE per table. Shipments and carts keep the
per-record :class:`Applier`, inside the same transaction and in their place in the order.

Ordering is the order given. A segment never holds two records for the same row (the
same order, or the same customer inside two orders): a repeat starts the next segment,
which reads what the previous one wrote, so an older snapshot after a newer one in the
same batch is still stale. On PostgreSQL the rows read are locked (``FOR UPDATE``) until
commit, so another process cannot slip a write between our read and our write; two new
rows with the same key make the batch fail on the unique key and the caller retries its
records alone (:meth:`~notifier.ingest.service.Ingestor.receive_batch`).

The statements go to a :class:`Statements`: at once through the session's connection
(:class:`AtOnce`), or queued in a PostgreSQL pipeline (:class:`Pipelined`), where a
read's rows are waited for only when the decision needs them; the steps below issue every
statement of a step before they wait for any, so a segment is two round trips: its
customers (the rows read before, the upsert and the stored consents), then everything
else, sent with the commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session

from notifier.config import Settings
from notifier.ingest import rows
from notifier.ingest.apply import (
    _ORDER_MERGE,
    CARTS,
    CONSENTS,
    CUSTOMERS,
    ORDERS,
    SHIPMENTS,
    Applied,
    Applier,
    _complete_cart,
    _later,
    _lookup,
    _merged,
)
from notifier.ingest.pipeline import Pipe
from notifier.ingest.records import AnyRecord, ConsentIn, CustomerIn, OrderIn, Record
from notifier.store import consent_log
from notifier.store.consent_log import ConsentChange

CHANGES: sa.Table = ConsentChange.__table__  # type: ignore[attr-defined]
_KEYED = ("id", "source", "external_id")  # what inserts return: rows matched by key

Key = tuple[str, str]  # (source, external_id)


@dataclass(frozen=True)
class Batched:
    """One record to apply: where it came from, when it was received, the inbound event
    carrying it (for the consent trail)."""

    record: AnyRecord
    source: str
    now: datetime
    event_id: int | None = None


@dataclass
class _Customer:
    """A customer to write, standalone or inside an order; ``id`` and ``outcome`` once
    written."""

    item: Batched
    record: CustomerIn
    id: int | None = None
    outcome: str = "applied"


Rows = Callable[[], list[Any]]  # waits for a read's rows (they have attribute access)


class Statements(Protocol):
    """Where a batch's statements go; see :class:`AtOnce` and :class:`Pipelined`."""

    dialect: str
    pipelined: bool

    def read(self, statement: sa.Executable, params: Mapping[str, Any]) -> Rows: ...

    def insert_many(self, table: sa.Table, rows: Sequence[dict[str, Any]],
                    returning: tuple[str, ...] = ()) -> Rows: ...

    def upsert_many(self, table: sa.Table, rows: Sequence[dict[str, Any]],
                    returning: tuple[str, ...]) -> Rows: ...

    def update_many(self, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None: ...

    def update_joined(self, statement: sa.Update, spec: tuple[tuple[str, Any], ...],
                      rows: Sequence[dict[str, Any]], joined: Any) -> None: ...


class AtOnce:
    """Each statement run when given, through the session's connection."""

    pipelined = False

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    def read(self, statement: sa.Executable, params: Mapping[str, Any]) -> Rows:
        found = self.session.connection().execute(statement, params).all()
        return lambda: found

    def insert_many(self, table: sa.Table, rows_: Sequence[dict[str, Any]],
                    returning: tuple[str, ...] = ()) -> Rows:
        found = rows.insert_many(self.session.connection(), table, rows_, returning)
        return lambda: found

    def upsert_many(self, table: sa.Table, rows_: Sequence[dict[str, Any]],
                    returning: tuple[str, ...]) -> Rows:
        found = rows.upsert_many(self.session.connection(), table, rows_, returning)
        return lambda: found

    def update_many(self, table: sa.Table, rows_: Sequence[dict[str, Any]]) -> None:
        rows.update_many(self.session.connection(), table, rows_)

    def update_joined(self, statement: sa.Update, spec: tuple[tuple[str, Any], ...],
                      rows_: Sequence[dict[str, Any]], joined: Any) -> None:
        rows.update_joined(self.session.connection(), statement, spec, rows_, joined)


def _no_rows() -> list[Any]:
    return []


class Pipelined:
    """PostgreSQL statements queued in the writer's pipeline (:mod:`~notifier.ingest.pipeline`)."""

    pipelined = True
    dialect = "postgresql"

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe

    def read(self, statement: sa.Executable, params: Mapping[str, Any]) -> Rows:
        return self.pipe.read(statement, params)

    def _send(self, statement: rows.PgStatement, returning: bool) -> Rows:
        if returning:
            return self.pipe.read(*statement)
        self.pipe.write(*statement)
        return _no_rows

    def insert_many(self, table: sa.Table, rows_: Sequence[dict[str, Any]],
                    returning: tuple[str, ...] = ()) -> Rows:
        if not rows_:
            return _no_rows
        return self._send(rows.pg_insert(table, rows_, returning), bool(returning))

    def upsert_many(self, table: sa.Table, rows_: Sequence[dict[str, Any]],
                    returning: tuple[str, ...]) -> Rows:
        if not rows_:
            return _no_rows
        return self._send(rows.pg_upsert(table, rows_, returning), True)

    def update_many(self, table: sa.Table, rows_: Sequence[dict[str, Any]]) -> None:
        if rows_:
            self.pipe.write(*rows.pg_update(table, rows_))

    def update_joined(self, statement: sa.Update, spec: tuple[tuple[str, Any], ...],
                      rows_: Sequence[dict[str, Any]], joined: Any) -> None:
        if rows_:
            self.pipe.write(*rows.pg_update_joined(spec, rows_, joined))


Held = tuple[Rows, Rows]  # the stored customers and orders of some keys, read


class BatchApplier:
    """Stores a batch of records in the caller's transaction; see the module docstring.
    ``session`` is used for the records applied alone (none reach a :class:`Pipelined`)."""

    def __init__(self, session: Session | None, settings: Settings,
                 statements: Statements | None = None) -> None:
        self.session = session
        self.settings = settings
        self.out: Statements = statements or AtOnce(session)  # type: ignore[arg-type]
        self.dialect = self.out.dialect
        self._one = Applier(session, settings, source="", now=datetime.min)  # type: ignore[arg-type]

    def held(self, items: Sequence[Batched]) -> Held:
        """Read (and on PostgreSQL lock) the stored rows the set-based ``items`` write:
        given to :meth:`apply` as ``read``, they are not read again for its first segment."""
        customers: list[Key] = []
        orders: list[Key] = []
        for item in items:
            for kind, key in _keys(item) or ():
                (orders if kind == "order" else customers).append(key)
        return (self._held(CUSTOMERS, customers, ()), self._held(ORDERS, orders, _ORDER_MERGE))

    def apply(self, items: Sequence[Batched], read: Held | None = None) -> list[Applied]:
        """What each record did, in the order given. ``read``: :meth:`held` of these
        items (or more), when nothing was written to those rows since."""
        if self.session is not None:
            self.session.flush()  # Core statements do not autoflush (see Applier.apply)
        results: list[Applied] = []
        segment: list[Batched] = []
        keys: set[tuple[str, Key]] = set()
        for item in items:
            mine = _keys(item)
            if mine is None:  # not set-based: applied alone, in its place
                results += self._segment(segment, read)
                segment, keys, read = [], set(), None
                results.append(self._alone(item))
                continue
            if keys & mine:
                results += self._segment(segment, read)
                segment, keys, read = [], set(), None
            segment.append(item)
            keys |= mine
        results += self._segment(segment, read)
        return results

    def _alone(self, item: Batched) -> Applied:
        one = Applier(self.session, self.settings, source=item.source, now=item.now,
                      event_id=item.event_id)
        return one.apply(item.record)

    # -- a segment: orders and customers, each row at most once ---------------------

    def _segment(self, items: list[Batched], read: Held | None) -> list[Applied]:
        if not items:
            return []
        customers: list[_Customer] = []
        orders: list[tuple[Batched, OrderIn]] = []
        for item in items:
            if isinstance(item.record, OrderIn):
                orders.append((item, item.record))
                if item.record.customer is not None:
                    customers.append(_Customer(item, item.record.customer))
            else:
                assert isinstance(item.record, CustomerIn)
                customers.append(_Customer(item, item.record))
        # Customers first, then orders: the order the per-record applier locks them in.
        if read is None:
            read = (self._held(CUSTOMERS, [(c.item.source, c.record.external_id)
                                           for c in customers], ()),
                    self._held(ORDERS, [(i.source, o.external_id) for i, o in orders],
                               _ORDER_MERGE))
        held_customers, held_orders = _by_key(read[0]()), _by_key(read[1]())
        fresh: list[tuple[Batched, OrderIn, dict[str, Any] | None]] = []
        stale_orders: set[int] = set()
        for item, order in orders:
            held = held_orders.get((item.source, order.external_id))
            if _stale(held, order):
                stale_orders.add(id(order))
            else:
                fresh.append((item, order, held))
        # A stale order's customer is not written, as in Applier.order.
        writes = [c for c in customers
                  if not (isinstance(c.item.record, OrderIn) and id(c.item.record) in stale_orders)]
        self._customers(writes, held_customers)
        by_order = {id(c.item.record): c.id for c in writes if isinstance(c.item.record, OrderIn)}
        self._orders(fresh, by_order)
        standalone = {id(c.record): c.outcome for c in customers}
        results = []
        for item in items:
            record = item.record
            if isinstance(record, OrderIn):
                outcome = "stale" if id(record) in stale_orders else "applied"
                results.append(Applied("order", record.external_id, outcome))
            else:
                results.append(Applied("customer", record.external_id, standalone[id(record)]))
        return results

    def _held(self, table: sa.Table, keys: list[Key], columns: tuple[str, ...]) -> Rows:
        """The stored rows of ``keys`` (id, source, external_id, source_updated_at and
        ``columns``), locked until commit on PostgreSQL."""
        by_source: dict[str, set[str]] = {}
        for source, external_id in keys:
            by_source.setdefault(source, set()).add(external_id)
        # One query per source (a batch has one or two): ``source = ? AND external_id IN``
        # uses the unique index on SQLite, where a row-value IN does not; PostgreSQL gets
        # the row value (see _lookup_many).
        pg = self.dialect == "postgresql"
        found = [self.out.read(_lookup_many(table, columns, self.dialect),
                               {"key_source": source,
                                "ids": json.dumps(sorted(ids)) if pg else sorted(ids)})
                 for source, ids in sorted(by_source.items())]
        return lambda: [row for rows_ in found for row in rows_()]

    # -- customers -------------------------------------------------------------------

    def _customers(self, customers: list[_Customer], held: Mapping[Key, Mapping[str, Any]]) -> None:
        """Write ``customers``: update the held ones that are not newer than the record,
        insert the new ones (``ON CONFLICT DO UPDATE``, as Applier.customer does); each
        gets its ``id`` and ``outcome``. The stored consents of the held ones are read with
        the upserts (their ids are known): one wait for both."""
        inserts: dict[frozenset[str], list[dict[str, Any]]] = {}
        updates: dict[frozenset[str], list[dict[str, Any]]] = {}
        new: dict[Key, _Customer] = {}
        for customer in customers:
            record, item = customer.record, customer.item
            key = (item.source, record.external_id)
            row = held.get(key)
            if _stale(row, record):
                customer.id, customer.outcome = row["id"], "stale"  # type: ignore[index]
                continue
            values = _given(record, skip={"consents", "push_subscriptions"})
            if record.push_subscriptions is not None:
                values["push_subscriptions"] = [s.model_dump() for s in record.push_subscriptions]
            values |= _touched(CUSTOMERS, record, item.now)
            if row is None:
                params = {"source": item.source, "external_id": record.external_id, **values}
                inserts.setdefault(frozenset(values), []).append(params)
                new[key] = customer
            else:
                customer.id = row["id"]
                updates.setdefault(frozenset(values), []).append({"row_id": row["id"], **values})
        pg = self.dialect == "postgresql"
        returning = (*_KEYED, rows.INSERTED) if pg else _KEYED
        upserted = [self.out.upsert_many(CUSTOMERS, params, returning)
                    for params in inserts.values()]
        for params in updates.values():
            self.out.update_many(CUSTOMERS, params)
        fresh = {id(c) for c in new.values()}
        known = sorted({c.id for c in customers  # type: ignore[type-var]
                        if c.outcome == "applied" and id(c) not in fresh and c.record.consents})
        stored = [self.out.read(_consents_many(self.dialect), {"ids": known})] if known else []
        found_stored: list[int] = []
        for found in upserted:
            for row in found():
                customer = new[(row.source, row.external_id)]
                customer.id = row.id
                if pg and not row.inserted and customer.record.consents:
                    found_stored.append(row.id)
        for key, customer in new.items():
            if customer.id is None:  # another writer's newer row won the upsert
                params = {"key_source": key[0], "key_external_id": key[1]}
                customer.id = self.out.read(_lookup(CUSTOMERS, ()), params)()[0].id
                customer.outcome = "stale"
        if found_stored:
            # Another writer committed the customer after our read: the upsert updated its
            # row, which may hold consents already (one more round trip, rare).
            stored.append(self.out.read(_consents_many(self.dialect),
                                        {"ids": sorted(found_stored)}))
        self._consents([c for c in customers if c.outcome == "applied"], stored)

    def _consents(self, customers: list[_Customer], read: list[Rows]) -> None:
        """Each customer's newest word per channel and purpose, judged against the stored
        one (``read``: those of the customers that existed) as Applier._consents does; one
        read for the batch, one write per kind."""
        wanted: list[tuple[_Customer, dict[tuple[str, str], ConsentIn]]] = []
        for customer in customers:
            newest = _newest(customer.record.consents)
            if newest:
                wanted.append((customer, newest))
        stored: dict[tuple[int, str, str], Any] = {}
        for found in read:
            for row in found():
                stored[(row.customer_id, row.channel, row.purpose)] = row
        if not wanted:
            return
        inserts, updates, changes = [], [], []
        for customer, newest in wanted:
            item = customer.item
            for (channel, purpose), consent in newest.items():
                word = consent_log.Word(channel, purpose, consent.granted, consent.at,
                                        consent.source)
                row = stored.get((customer.id, channel, purpose))  # type: ignore[arg-type]
                held = consent_log.Held(row.granted, row.at, row.source) if row else None
                verdict = consent_log.judge(held, word)
                if verdict.log:
                    changes.append({
                        "customer_id": customer.id, "channel": channel, "purpose": purpose,
                        "granted": consent.granted, "at": consent.at, "source": consent.source,
                        "recorded_at": item.now,
                        "outcome": "applied" if verdict.apply else "refused",
                        "reason": verdict.reason[:255], "event_id": item.event_id})
                if not verdict.apply:
                    continue
                values = {"granted": consent.granted, "source": consent.source,
                          "at": consent_log.stored_at(held, word, item.now)}
                if row is None:
                    inserts.append({"customer_id": customer.id, "channel": channel,
                                    "purpose": purpose, **values})
                else:
                    updates.append({"row_id": row.id, **values})
        self.out.insert_many(CONSENTS, inserts)
        self.out.update_many(CONSENTS, updates)
        self.out.insert_many(CHANGES, changes)

    # -- orders ----------------------------------------------------------------------

    def _orders(self, orders: list[tuple[Batched, OrderIn, dict[str, Any] | None]],
                customer_ids: Mapping[int, int | None]) -> None:
        inserts: dict[frozenset[str], list[dict[str, Any]]] = {}
        updates: dict[frozenset[str], list[dict[str, Any]]] = {}
        rechecks: list[dict[str, Any]] = []
        carts: list[tuple[Batched, OrderIn]] = []
        ids: dict[Key, int] = {}
        for item, record, held in orders:
            values = _given(record, skip={"customer", "items", "cart_external_id"})
            if held is None:
                values = {"status": record.status, "currency": record.currency} | values
                values.setdefault("placed_at", item.now)  # see Applier.order
            if "items" in record.given():
                values["items"] = [i.model_dump(mode="json") for i in record.items]
            if record.customer is not None:
                values["customer_id"] = customer_ids[id(record)]
            row = _merged(ORDERS, held, values, _ORDER_MERGE)
            values |= self._one._promise(row)
            values |= _touched(ORDERS, record, item.now)
            if held is None:
                params = {"source": item.source, "external_id": record.external_id, **values}
                inserts.setdefault(frozenset(params), []).append(params)
            else:
                ids[(item.source, record.external_id)] = held["id"]
                updates.setdefault(frozenset(values), []).append({"row_id": held["id"], **values})
                # Shipment rules read the order too: its parcels are looked at again.
                rechecks.append({"row_id": held["id"], "next_check_at": item.now})
            if record.cart_external_id and record.status != "cancelled":
                carts.append((item, record))
        # In a pipeline the new orders' ids are not waited for: the carts find their
        # order by its key (_complete_by_key).
        by_key = self.out.pipelined
        inserted = [self.out.insert_many(ORDERS, params, () if by_key else _KEYED)
                    for params in inserts.values()]
        for found in inserted:
            for row in found():
                ids[(row.source, row.external_id)] = row.id
        for params in updates.values():
            self.out.update_many(ORDERS, params)
        self.out.update_joined(_recheck_many(), _RECHECK_SPEC, rechecks, _recheck_joined)
        self.out.update_joined(_complete_cart(), _CART_BY_KEY if by_key else _CART_SPEC, [{
            "key_source": item.source, "key_external_id": record.cart_external_id,
            "cart_order_id": None if by_key else ids[(item.source, record.external_id)],
            "order_external_id": record.external_id,
            "new_completed_at": record.placed_at or item.now, "next_check_at": item.now,
        } for item, record in carts], _complete_by_key if by_key else _complete_joined)


def _keys(item: Batched) -> set[tuple[str, Key]] | None:
    """The rows a set-based record writes; None for a record applied alone."""
    record = item.record
    if isinstance(record, OrderIn):
        keys = {("order", (item.source, record.external_id))}
        if record.customer is not None:
            keys.add(("customer", (item.source, record.customer.external_id)))
        return keys
    if isinstance(record, CustomerIn):
        return {("customer", (item.source, record.external_id))}
    return None


def _by_key(found: list[Any]) -> dict[Key, dict[str, Any]]:
    return {(row.source, row.external_id): row._asdict() for row in found}


def _stale(held: Mapping[str, Any] | None, record: Record) -> bool:
    at = held["source_updated_at"] if held is not None else None
    return bool(at and record.updated_at and record.updated_at < at)


def _given(record: Record, *, skip: set[str]) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.given() - skip}


def _touched(table: sa.Table, record: Record, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {"updated_at": now}
    if record.updated_at is not None:
        values["source_updated_at"] = record.updated_at
    if "next_check_at" in table.c:
        values["next_check_at"] = now
    return values


def _newest(consents: Iterable[ConsentIn]) -> dict[tuple[str, str], ConsentIn]:
    newest: dict[tuple[str, str], ConsentIn] = {}
    for consent in consents:
        seen = newest.get((consent.channel, consent.purpose))
        if seen is None or _later(consent.at, seen.at):
            newest[(consent.channel, consent.purpose)] = consent
    return newest


# -- statements, built once (see apply.py) ----------------------------------------------


@cache
def _lookup_many(table: sa.Table, columns: tuple[str, ...], dialect: str) -> sa.Select[Any]:
    stmt = sa.select(table.c.id, table.c.source, table.c.external_id,
                     table.c.source_updated_at, *(table.c[name] for name in columns))
    if dialect != "postgresql":
        return (stmt.where(table.c.source == sa.bindparam("key_source"),
                           rows.key_in(table.c.external_id, "ids", dialect))
                .order_by(table.c.id))
    # ``(source, external_id) IN (SELECT ?, each id)``: one probe of the unique index per
    # key whatever the statistics say. With ``= ANY`` a table never analysed yet (a new
    # database, the bench) was read by ``source`` alone, every row of the shop tested
    # against the list: 1.45 ms of server CPU per batch at 2,400 orders, growing.
    wanted = sa.select(sa.bindparam("key_source", type_=table.c.source.type),
                       sa.func.json_array_elements_text(
                           sa.cast(sa.bindparam("ids", type_=sa.Text()), postgresql.JSON())))
    return (stmt.where(sa.tuple_(table.c.source, table.c.external_id).in_(wanted))
            .order_by(table.c.id).with_for_update())


@cache
def _consents_many(dialect: str) -> sa.Select[Any]:
    c = CONSENTS.c
    return (sa.select(c.id, c.customer_id, c.channel, c.purpose, c.granted, c.at, c.source)
            .where(rows.key_in(c.customer_id, "ids", dialect)))


_CART_SPEC = (("key_source", CARTS.c.source.type), ("key_external_id", CARTS.c.external_id.type),
              ("cart_order_id", sa.BigInteger()),
              ("order_external_id", CARTS.c.order_external_id.type),
              ("new_completed_at", CARTS.c.completed_at.type),
              ("next_check_at", CARTS.c.next_check_at.type))


def _complete_joined(v: Any) -> sa.Update:
    """Applier's cart completion (``_complete_cart``) for the rows of ``v`` at once."""
    c = CARTS.c
    return (sa.update(CARTS)
            .where(c.source == v.c.key_source, c.external_id == v.c.key_external_id,
                   c.order_id.is_distinct_from(v.c.cart_order_id))
            .values(order_id=v.c.cart_order_id, order_external_id=v.c.order_external_id,
                    next_check_at=v.c.next_check_at,
                    completed_at=sa.func.coalesce(c.completed_at, v.c.new_completed_at)))


def _complete_by_key(v: Any) -> sa.Update:
    """:func:`_complete_joined` with each order found by its key: in a pipeline the new
    orders' ids are not waited for."""
    c, o = CARTS.c, ORDERS.c
    return (sa.update(CARTS)
            .where(c.source == v.c.key_source, c.external_id == v.c.key_external_id,
                   o.source == v.c.key_source, o.external_id == v.c.order_external_id,
                   c.order_id.is_distinct_from(o.id))
            .values(order_id=o.id, order_external_id=v.c.order_external_id,
                    next_check_at=v.c.next_check_at,
                    completed_at=sa.func.coalesce(c.completed_at, v.c.new_completed_at)))


_CART_BY_KEY = tuple(column for column in _CART_SPEC if column[0] != "cart_order_id")


@cache
def _recheck_many() -> sa.Update:
    return (sa.update(SHIPMENTS).where(SHIPMENTS.c.order_id == sa.bindparam("row_id"))
            .values(next_check_at=sa.bindparam("next_check_at")))


_RECHECK_SPEC = (("row_id", sa.BigInteger()), ("next_check_at", SHIPMENTS.c.next_check_at.type))


def _recheck_joined(v: Any) -> sa.Update:
    return (sa.update(SHIPMENTS).where(SHIPMENTS.c.order_id == v.c.row_id)
            .values(next_check_at=v.c.next_check_at))
