"""Reading what changed in BaseLinker into a :class:`~.baselinker_batch.Batch`.

Three ways in, one per job of the poller:

- :meth:`BaseLinkerFetcher.changes` — the orders (and, after parcel events, the parcels)
  named by journal events;
- :meth:`BaseLinkerFetcher.confirmed_pages` — every order confirmed since a date, 100 a
  page, with its parcels: the first import and the re-sync after a gap;
- :meth:`BaseLinkerFetcher.tracking` — courier status history of stored parcels, which
  the journal never reports.

No database here: the poller stores each batch with its position.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifier.connectors.baselinker_batch import Batch, Rejected
from notifier.connectors.baselinker_client import BaseLinkerClient
from notifier.errors import PayloadError
from notifier.ingest.baselinker import (
    ORDER_EVENTS,
    OTHER_ORDER_EVENTS,
    PACKAGE_EVENTS,
    BaseLinkerAdapter,
    JournalLog,
    LogType,
    Order,
    parse_histories,
    parse_order,
    parse_packages,
    timestamp,
    when,
)

log = logging.getLogger("notifier.connectors.baselinker")

@dataclass(frozen=True)
class Page:
    """One page of a date-range read: its batch, and where the next page starts (None: done)."""

    batch: Batch
    orders: int
    next_from: datetime | None


class BaseLinkerFetcher:
    """Turns journal events, date ranges and parcel ids into batches of records."""

    #: getOrders answers at most this many orders; a full page means there may be more.
    orders_page = 100

    def __init__(self, client: BaseLinkerClient, adapter: BaseLinkerAdapter) -> None:
        self.client = client
        self.adapter = adapter
        self._status_names: dict[int, str] | None = None
        self._unnamed: set[int] = set()  # ids the account's list lacks: not asked again

    async def changes(self, logs: Iterable[JournalLog], *, now: datetime) -> Batch:
        """Re-read every order the events touch; parcels only after parcel events."""
        touched: dict[int, datetime] = {}
        with_parcels: set[int] = set()
        deleted: list[str] = []
        for event in logs:
            if event.log_type not in ORDER_EVENTS:
                continue
            ids = [event.order_id]
            if event.log_type in OTHER_ORDER_EVENTS and event.object_id:
                ids.append(event.object_id)
            for order_id in ids:
                touched[order_id] = when(event.date) or now
            if event.log_type in PACKAGE_EVENTS:
                with_parcels.update(ids)
            if event.log_type == LogType.PACKAGE_DELETED and event.object_id:
                deleted.append(str(event.object_id))
        found: list[Order] = []
        batch = Batch(deleted_packages=tuple(deleted))
        for order_id, at in touched.items():
            raws = await self.client.orders(order_id=order_id, get_unconfirmed_orders=True)
            if not raws:
                batch += Batch(gone_orders=((str(order_id), at),))
                continue
            order, rejected = _parse(raws[0])
            batch += rejected
            if order is not None:
                found.append(order)
        batch += await self._orders(found)
        return batch + await self._parcels([o for o in found if o.order_id in with_parcels])

    async def confirmed_pages(self, since: datetime) -> AsyncIterator[Page]:
        """Orders confirmed at or after ``since``, page by page, each with its parcels.

        BaseLinker's own recipe pages on ``date_confirmed_from``; we restart each page at
        the last confirmation second seen (not one past it, which can skip orders confirmed
        in the same second) and drop the orders already read.
        """
        cursor = timestamp(since)
        seen: set[int] = set()
        while True:
            raws = await self.client.orders(date_confirmed_from=cursor,
                                            get_unconfirmed_orders=False)
            fresh: list[Order] = []
            batch = Batch()
            for raw in raws:
                order, rejected = _parse(raw)
                batch += rejected
                if order is not None and order.order_id not in seen:
                    seen.add(order.order_id)
                    fresh.append(order)
            batch += await self._orders(fresh)
            batch += await self._parcels(fresh)
            if len(raws) < self.orders_page:
                yield Page(batch, len(fresh), None)
                return
            last = max((_int(r, "date_confirmed") for r in raws), default=cursor)
            if not fresh or last <= cursor:
                # A full page inside one second: BaseLinker cannot page further within it.
                log.warning("baselinker: a full page of orders confirmed at %s; continuing a "
                            "second later", when(last))
                last = max(last, cursor) + 1
            cursor = last
            yield Page(batch, len(fresh), when(cursor))

    async def tracking(self, package_ids: list[str]) -> Batch:
        """Courier history of stored parcels; a parcel with nothing new is touched anyway,
        so the refresh moves on to the others."""
        shipments = []
        rejected: tuple[Rejected, ...] = ()
        size = self.client.history_batch
        for start in range(0, len(package_ids), size):
            chunk = package_ids[start:start + size]
            body = await self.client.packages_history([int(p) for p in chunk])
            try:
                histories = parse_histories(body)
            except PayloadError as exc:
                histories = {}
                rejected += (Rejected("package", ",".join(chunk), str(exc), json.dumps(body)),)
            for package_id in chunk:
                try:
                    shipments.append(self.adapter.tracking(package_id,
                                                           histories.get(package_id, [])))
                except PayloadError as exc:
                    rejected += (Rejected("package", package_id, str(exc), "{}"),)
        return Batch(shipments=tuple(shipments), rejected=rejected)

    # -- pieces ------------------------------------------------------------------------

    async def _orders(self, orders: list[Order]) -> Batch:
        names = await self._names({o.order_status_id for o in orders})
        records, rejected = [], []
        for order in orders:
            try:
                records.append(self.adapter.order(order, status_name=names.get(
                    order.order_status_id)))
            except PayloadError as exc:
                rejected.append(Rejected("order", str(order.order_id), str(exc),
                                         order.model_dump_json()))
        return Batch(orders=tuple(records), rejected=tuple(rejected))

    async def _parcels(self, orders: list[Order]) -> Batch:
        packages = []
        rejected: list[Rejected] = []
        for order in orders:
            body = await self.client.order_packages(order.order_id)
            try:
                packages += [(order.order_id, p) for p in parse_packages(body)
                             if p.is_customer_delivery]
            except PayloadError as exc:
                rejected.append(Rejected("package", f"order {order.order_id}", str(exc),
                                         json.dumps(body)))
        histories: dict[str, list[Any]] = {}
        ids = [p.package_id for _, p in packages]
        size = self.client.history_batch
        for start in range(0, len(ids), size):
            body = await self.client.packages_history(ids[start:start + size])
            try:
                histories.update(parse_histories(body))
            except PayloadError as exc:
                rejected.append(Rejected("package", "history", str(exc), json.dumps(body)))
        shipments = []
        for order_id, package in packages:
            try:
                record = self.adapter.shipment(
                    package, histories.get(str(package.package_id), []), order_id=order_id)
            except PayloadError as exc:
                rejected.append(Rejected("package", str(package.package_id), str(exc),
                                         package.model_dump_json()))
                continue
            if record is not None:
                shipments.append(record)
        return Batch(shipments=tuple(shipments), rejected=tuple(rejected))

    async def _names(self, status_ids: set[int]) -> dict[int, str]:
        """The account's status names, read once and again when an unknown id shows up —
        only when ``status_map`` names statuses instead of numbering them."""
        if not self.adapter.needs_status_names or not status_ids:
            return self._status_names or {}
        known = (self._status_names or {}).keys() | self._unnamed
        if self._status_names is None or not status_ids <= known:
            statuses = await self.client.order_statuses()
            self._status_names = {int(s["id"]): str(s.get("name", "")) for s in statuses
                                  if str(s.get("id", "")).isdigit()}
            self._unnamed |= status_ids - self._status_names.keys()
        return self._status_names


def _parse(raw: Any) -> tuple[Order | None, Batch]:
    try:
        return parse_order(raw), Batch()
    except PayloadError as exc:
        order_id = str(raw.get("order_id", "?")) if isinstance(raw, dict) else "?"
        return None, Batch(rejected=(Rejected("order", order_id, str(exc), json.dumps(raw)),))


def _int(raw: Any, key: str) -> int:
    try:
        return int(raw.get(key) or 0) if isinstance(raw, dict) else 0
    except (TypeError, ValueError):
        return 0
