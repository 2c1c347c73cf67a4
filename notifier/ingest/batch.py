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
records alone (:meth:`~notifier.ingest.service.Ingestor.receive_many`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
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


class BatchApplier:
    """Stores a batch of records in the caller's transaction; see the module docstring."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.dialect = session.get_bind().dialect.name
        self._one = Applier(session, settings, source="", now=datetime.min)

    def apply(self, items: Sequence[Batched]) -> list[Applied]:
        """What each record did, in the order given."""
        self.session.flush()  # Core statements do not autoflush (see Applier.apply)
        results: list[Applied] = []
        segment: list[Batched] = []
        keys: set[tuple[str, Key]] = set()
        for item in items:
            mine = _keys(item)
            if mine is None:  # not set-based: applied alone, in its place
                results += self._segment(segment)
                segment, keys = [], set()
                results.append(self._alone(item))
                continue
            if keys & mine:
                results += self._segment(segment)
                segment, keys = [], set()
            segment.append(item)
            keys |= mine
        results += self._segment(segment)
        return results

    def _alone(self, item: Batched) -> Applied:
        one = Applier(self.session, self.settings, source=item.source, now=item.now,
                      event_id=item.event_id)
        return one.apply(item.record)

    def _run(self, statement: sa.Executable,
             params: Mapping[str, Any] | list[dict[str, Any]] | None = None) -> Any:
        return self.session.connection().execute(statement, params)

    # -- a segment: orders and customers, each row at most once ---------------------

    def _segment(self, items: list[Batched]) -> list[Applied]:
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
        held_customers = self._held(CUSTOMERS, [(c.item.source, c.record.external_id)
                                                for c in customers], ())
        held_orders = self._held(ORDERS, [(i.source, o.external_id) for i, o in orders],
                                 _ORDER_MERGE)
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

    def _held(self, table: sa.Table, keys: list[Key],
              columns: tuple[str, ...]) -> dict[Key, dict[str, Any]]:
        """The stored rows of ``keys`` (id, source_updated_at and ``columns``), locked until
        commit on PostgreSQL."""
        by_source: dict[str, set[str]] = {}
        for source, external_id in keys:
            by_source.setdefault(source, set()).add(external_id)
        held: dict[Key, dict[str, Any]] = {}
        # One query per source (a batch has one or two): ``source = ? AND external_id IN``
        # uses the unique index on both databases, a row-value IN does not on SQLite.
        for source, ids in sorted(by_source.items()):
            rows = self._run(_lookup_many(table, columns, self.dialect),
                             {"key_source": source, "ids": sorted(ids)})
            held |= {(source, row["external_id"]): dict(row) for row in rows.mappings()}
        return held

    # -- customers -------------------------------------------------------------------

    def _customers(self, customers: list[_Customer], held: Mapping[Key, Mapping[str, Any]]) -> None:
        """Write ``customers``: update the held ones that are not newer than the record,
        insert the new ones (``ON CONFLICT DO UPDATE``, as Applier.customer does); each
        gets its ``id`` and ``outcome``."""
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
        conn = self.session.connection()
        for params in inserts.values():
            for row in rows.upsert_many(conn, CUSTOMERS, params, _KEYED):
                new[(row.source, row.external_id)].id = row.id
        for params in updates.values():
            rows.update_many(conn, CUSTOMERS, params)
        for key, customer in new.items():
            if customer.id is None:  # another writer's newer row won the upsert
                params = {"key_source": key[0], "key_external_id": key[1]}
                customer.id = self._run(_lookup(CUSTOMERS, ()), params).scalar_one()
                customer.outcome = "stale"
        self._consents([c for c in customers if c.outcome == "applied"],
                       fresh={id(c) for c in new.values()})

    def _consents(self, customers: list[_Customer], *, fresh: set[int]) -> None:
        """Each customer's newest word per channel and purpose, judged against the stored
        one as Applier._consents does; one read for the batch, one write per kind."""
        wanted: list[tuple[_Customer, dict[tuple[str, str], ConsentIn]]] = []
        for customer in customers:
            newest = _newest(customer.record.consents)
            if newest:
                wanted.append((customer, newest))
        if not wanted:
            return
        known = [c.id for c, _ in wanted if id(c) not in fresh]
        stored: dict[tuple[int, str, str], Any] = {}
        if known:
            for row in self._run(_consents_many(self.dialect), {"ids": sorted(set(known))}):  # type: ignore[type-var]
                stored[(row.customer_id, row.channel, row.purpose)] = row
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
        conn = self.session.connection()
        rows.insert_many(conn, CONSENTS, inserts)
        rows.update_many(conn, CONSENTS, updates)
        rows.insert_many(conn, CHANGES, changes)

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
        conn = self.session.connection()
        for params in inserts.values():
            for row in rows.insert_many(conn, ORDERS, params, _KEYED):
                ids[(row.source, row.external_id)] = row.id
        for params in updates.values():
            rows.update_many(conn, ORDERS, params)
        if rechecks:
            self._run(_recheck_many(), rechecks)
        if carts:
            rows.update_joined(conn, _complete_cart(), _CART_SPEC, [{
                "key_source": item.source, "key_external_id": record.cart_external_id,
                "cart_order_id": ids[(item.source, record.external_id)],
                "order_external_id": record.external_id,
                "new_completed_at": record.placed_at or item.now, "next_check_at": item.now,
            } for item, record in carts], _complete_joined)


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
    stmt = (sa.select(table.c.id, table.c.external_id, table.c.source_updated_at,
                      *(table.c[name] for name in columns))
            .where(table.c.source == sa.bindparam("key_source"),
                   rows.key_in(table.c.external_id, "ids", dialect))
            .order_by(table.c.id))
    return stmt.with_for_update() if dialect == "postgresql" else stmt


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


@cache
def _recheck_many() -> sa.Update:
    return (sa.update(SHIPMENTS).where(SHIPMENTS.c.order_id == sa.bindparam("row_id"))
            .values(next_check_at=sa.bindparam("next_check_at")))
