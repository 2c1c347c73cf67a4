"""The BaseLinker poller: one step, ``await poller.poll(now)``, run by the scheduler.

    poller = build_baselinker_poller(runtime)
    result = await poller.poll(now)        # PollResult: what was read, stored, or why not

A poll does three things, each batch committed together with the position it reached:

1. **journal** — ``getJournalList`` from the stored ``last_log_id``; the orders the events
   name are re-read (``getOrders``), with their parcels after parcel events, and stored
   with the new position in one transaction. A crash before the commit keeps neither, so
   the next poll reads the same events again: nothing skipped, nothing doubled (upserts by
   id, tracking events deduplicated).
2. **re-sync** — BaseLinker keeps 72 hours of journal. When we were away longer (the last
   read is older than ``journal_safe_age_h``, or the journal now starts past our position
   at its retention edge), events may be gone: every order confirmed since then (at least
   ``resync_days`` back) is re-read by date, a few pages per poll, the cursor stored with
   each page. The first poll ever does the same. It is logged and reported
   (:attr:`PollResult.gap`, ``connector_states.resync_reason``).
3. **tracking** — the journal reports no courier scans: parcels still travelling get
   their status history re-read every ``tracking_refresh_s``.

BaseLinker answers an empty journal until its support enables it for the account; while
the journal never gave an event but we hold orders placed within its span, polls fail
with ``JOURNAL_EMPTY`` instead of silently missing every change.

A failed poll is stored as data: ``consecutive_failures``, ``last_error``, unhealthy from
``unhealthy_after`` in a row, and later polls held back exponentially (``retry_at``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from notifier.config import Settings
from notifier.connectors.baselinker_batch import Batch, Stored, apply_batch
from notifier.connectors.baselinker_client import BaseLinkerClient
from notifier.connectors.baselinker_fetch import BaseLinkerFetcher
from notifier.connectors.errors import ConnectorError, PositionMoved
from notifier.connectors.state import (
    Snapshot,
    connector_health,
    lock_state,
    read_snapshot,
    record_failure,
    record_success,
)
from notifier.errors import PayloadError
from notifier.ingest.baselinker import (
    ORDER_EVENTS,
    SOURCE,
    BaseLinkerAdapter,
    JournalLog,
    parse_journal,
    when,
)
from notifier.pacing import Monotonic, Sleep, backoff
from notifier.runtime import Runtime
from notifier.store.connector_tables import ConnectorState
from notifier.store.db import transaction
from notifier.store.tables import Order, Shipment

log = logging.getLogger("notifier.connectors.baselinker")

#: Parcels whose story is over: their courier history is not read again.
FINAL_SHIPMENT = ("delivered", "returned_to_sender", "lost")


@dataclass(frozen=True)
class PollResult:
    """What one poll did. ``outcome``: ``ok``, ``failed`` (``error`` says why) or
    ``skipped`` (backing off after failures, or another poller moved first).

    ``position`` is the journal position reached, ``events`` the journal events read;
    ``orders``/``shipments``/``stale`` count records stored by every step (an order read
    by the journal and the re-sync counts twice); ``gap`` is why a re-sync began in this
    poll, ``resync_pending`` that it continues in the next; ``requests`` went to BaseLinker.
    """

    outcome: Literal["ok", "failed", "skipped"]
    position: int | None = None
    events: int = 0
    orders: int = 0
    shipments: int = 0
    stale: int = 0
    rejected: tuple[str, ...] = ()
    gap: str | None = None
    resynced_orders: int = 0
    resync_pending: bool = False
    tracking_refreshed: int = 0
    requests: int = 0
    error: str | None = None


@dataclass
class _Tally:
    position: int | None = None
    events: int = 0
    stored: list[Stored] = field(default_factory=list)
    gap: str | None = None
    resynced_orders: int = 0
    resync_pending: bool = False
    tracking_refreshed: int = 0

    def result(self, outcome: Literal["ok", "failed", "skipped"], *, requests: int,
               error: str | None = None) -> PollResult:
        return PollResult(
            outcome, self.position, self.events, sum(s.orders for s in self.stored),
            sum(s.shipments for s in self.stored), sum(s.stale for s in self.stored),
            tuple(r for s in self.stored for r in s.rejected), self.gap, self.resynced_orders,
            self.resync_pending, self.tracking_refreshed, requests, error)


class BaseLinkerPoller:
    """Keeps the store in step with one BaseLinker account. Built by
    :func:`build_baselinker_poller`; tests hand it a client pointed at a fake API."""

    name = SOURCE
    #: Bounds on one poll, so a backlog is worked off over several polls.
    journal_batches_per_poll = 10
    resync_pages_per_poll = 3
    tracking_batches_per_poll = 1

    def __init__(self, *, sessions: sessionmaker[Session], settings: Settings,
                 client: BaseLinkerClient, adapter: BaseLinkerAdapter) -> None:
        self.sessions = sessions
        self.settings = settings
        self.config = settings.baselinker
        self.client = client
        self.adapter = adapter
        self.fetcher = BaseLinkerFetcher(client, adapter)

    async def aclose(self) -> None:
        await self.client.aclose()

    def health(self, session: Session) -> dict[str, Any]:
        return connector_health(session, name=self.name, enabled=self.config.enabled)

    async def poll(self, now: datetime) -> PollResult:
        """One journal read, re-sync step and tracking refresh as of ``now``."""
        snapshot = await asyncio.to_thread(read_snapshot, self.sessions, name=self.name)
        tally = _Tally(position=snapshot.journal_position)
        sent = self.client.requests
        if snapshot.retry_at is not None and now < snapshot.retry_at:
            return tally.result("skipped", requests=0,
                                error=f"backing off until {snapshot.retry_at.isoformat()}")
        try:
            await self._journal(now, snapshot, tally)
            await self._resync(now, tally)
            await self._tracking(now, tally)
            if tally.position is None:
                await asyncio.to_thread(self._check_journal_enabled, now)
        except PositionMoved as exc:
            log.info("baselinker: %s; leaving this poll to the other poller", exc)
            return tally.result("skipped", requests=self.client.requests - sent, error=str(exc))
        except Exception as exc:
            return await self._failed(now, exc, tally, requests=self.client.requests - sent)
        await asyncio.to_thread(record_success, self.sessions, name=self.name, now=now)
        return tally.result("ok", requests=self.client.requests - sent)

    async def sync(self, since: datetime, now: datetime,
                   progress: Callable[[int], None] = lambda _n: None) -> PollResult:
        """Import every order confirmed since ``since`` with its parcels (first import).
        The journal position is left alone; failures raise."""
        tally = _Tally()
        sent = self.client.requests
        move = partial(_synced, now=now, reason=f"sync since {since.isoformat()}")
        async with aclosing(self.fetcher.confirmed_pages(since)) as pages:
            async for page in pages:
                await self._store(now, page.batch, tally, move=move)
                tally.resynced_orders += page.orders
                progress(page.orders)
        return tally.result("ok", requests=self.client.requests - sent)

    # -- the three steps ---------------------------------------------------------------

    async def _journal(self, now: datetime, snapshot: Snapshot, tally: _Tally) -> None:
        position = snapshot.journal_position
        gap = self._gap_before(now, snapshot)
        for _ in range(self.journal_batches_per_poll):
            body = await self.client.journal(last_log_id=position or 0, log_types=ORDER_EVENTS)
            logs = [e for e in parse_journal(body) if position is None or e.log_id > position]
            gap = gap or self._gap_in(now, logs, position)
            batch = await self.fetcher.changes(logs, now=now) if logs else Batch()
            reached = logs[-1].log_id if logs else position
            started = self._resync_start(now, snapshot) if gap and not tally.gap else None
            if started is not None:
                tally.gap = gap
                log.warning("baselinker: possible gap in the journal (%s); re-synchronising "
                            "orders confirmed since %s", gap, started.isoformat())
            move = partial(_journal_read, expected=position, reached=reached, now=now,
                           resync_from=started, reason=gap)
            await self._store(now, batch, tally, move=move)
            tally.position, tally.events = reached, tally.events + len(logs)
            position = reached
            if not logs:
                return

    async def _resync(self, now: datetime, tally: _Tally) -> None:
        snapshot = await asyncio.to_thread(read_snapshot, self.sessions, name=self.name)
        cursor = snapshot.resync_from
        if cursor is None:
            return
        pages = 0
        async with aclosing(self.fetcher.confirmed_pages(cursor)) as stream:
            async for page in stream:
                move = partial(_resync_paged, expected=cursor, reached=page.next_from, now=now)
                await self._store(now, page.batch, tally, move=move)
                tally.resynced_orders += page.orders
                pages += 1
                if page.next_from is None:
                    log.info("baselinker: re-sync done (%d orders this poll)",
                             tally.resynced_orders)
                    return
                cursor = page.next_from
                if pages >= self.resync_pages_per_poll:
                    break
        tally.resync_pending = True

    async def _tracking(self, now: datetime, tally: _Tally) -> None:
        for _ in range(self.tracking_batches_per_poll):
            due = await asyncio.to_thread(self._due_parcels, now)
            if not due:
                return
            batch = await self.fetcher.tracking(due)
            await self._store(now, batch, tally, move=_untouched)
            tally.tracking_refreshed += len(due)

    # -- decisions ---------------------------------------------------------------------

    def _gap_before(self, now: datetime, snapshot: Snapshot) -> str | None:
        if (snapshot.journal_position is None and snapshot.last_resync_at is None
                and snapshot.resync_from is None):
            return "first poll"
        safe_age = timedelta(hours=self.config.journal_safe_age_h)
        if snapshot.journal_read_at is not None and now - snapshot.journal_read_at > safe_age:
            return (f"journal last read at {snapshot.journal_read_at.isoformat()}, longer ago "
                    f"than BaseLinker keeps it")
        return None

    def _gap_in(self, now: datetime, logs: list[JournalLog], position: int | None) -> str | None:
        """The journal now begins past our position, at the edge of what it keeps."""
        if position is None or not logs or logs[0].log_id <= position + 1:
            return None
        first = when(logs[0].date)
        if first is None or now - first < timedelta(hours=self.config.journal_safe_age_h):
            return None
        return (f"journal starts at event {logs[0].log_id} of {first.isoformat()}, "
                f"after our position {position}")

    def _resync_start(self, now: datetime, snapshot: Snapshot) -> datetime:
        """From ``resync_days`` back, or from before the last journal read if older."""
        since = now - timedelta(days=self.config.resync_days)
        if snapshot.journal_read_at is not None:
            since = min(since, snapshot.journal_read_at - timedelta(hours=1))
        return since.replace(microsecond=0)

    def _check_journal_enabled(self, now: datetime) -> None:
        """BaseLinker answers an empty journal until its support enables it: orders we hold
        from the journal's span while it never gave an event mean it is off."""
        span = (now - timedelta(hours=self.config.journal_safe_age_h), now - timedelta(hours=1))
        stmt = select(Order.external_id, Order.placed_at).where(
            Order.source == SOURCE, col(Order.placed_at) >= span[0],
            col(Order.placed_at) <= span[1]).limit(1)
        with self.sessions() as session:
            found = session.exec(stmt).first()
        if found is not None:
            raise ConnectorError(
                f"no journal events, yet order {found[0]} was placed at {found[1]}: ask "
                "BaseLinker support to enable getJournalList for this account",
                code="JOURNAL_EMPTY", method="getJournalList")

    def _due_parcels(self, now: datetime) -> list[str]:
        stale = now - timedelta(seconds=self.config.tracking_refresh_s)
        oldest = now - timedelta(days=self.config.tracking_max_age_days)
        seen = sa.func.coalesce(Shipment.last_event_at, Shipment.source_updated_at,
                                Shipment.created_at)
        stmt = (
            select(Shipment.external_id)
            .where(Shipment.source == SOURCE, col(Shipment.status).not_in(FINAL_SHIPMENT),
                   col(Shipment.updated_at) <= stale, seen >= oldest)
            .order_by(col(Shipment.updated_at))
            .limit(self.client.history_batch)
        )
        with self.sessions() as session:
            return [str(x) for x in session.exec(stmt).all()]

    # -- storing -----------------------------------------------------------------------

    async def _store(self, now: datetime, batch: Batch, tally: _Tally, *,
                     move: Callable[[ConnectorState], None]) -> None:
        stored = await asyncio.to_thread(self._commit, now, batch, move)
        for rejected in stored.rejected:
            log.warning("baselinker: rejected %s", rejected)
        tally.stored.append(stored)

    def _commit(self, now: datetime, batch: Batch,
                move: Callable[[ConnectorState], None]) -> Stored:
        """The batch and the position it reached, in one transaction; ``move`` raises
        :class:`PositionMoved` when another poller got there first."""
        with transaction(self.sessions) as session:
            state = lock_state(session, name=self.name)
            move(state)
            stored = apply_batch(session, self.settings, batch, now=now, adapter=self.adapter)
            state.updated_at = now
            session.add(state)
        return stored

    async def _failed(self, now: datetime, exc: Exception, tally: _Tally, *,
                      requests: int) -> PollResult:
        error = str(exc) or type(exc).__name__
        log.error("baselinker poll failed: %s", error,
                  exc_info=not isinstance(exc, ConnectorError | PayloadError))
        state = await asyncio.to_thread(
            record_failure, self.sessions, name=self.name, now=now, error=error,
            unhealthy_after=self.config.unhealthy_after, hold_s=self._hold_s)
        if not state.healthy:
            log.error("baselinker connector unhealthy after %d failed polls in a row",
                      state.consecutive_failures)
        return tally.result("failed", requests=requests, error=error)

    def _hold_s(self, failures: int) -> float:
        """How long polls wait after ``failures`` in a row: interval x 2^(failures-1), less
        the interval the scheduler waits anyway (half of it, for its jitter)."""
        interval = self.config.poll_interval_s
        return backoff(failures, base_s=interval, max_s=self.config.backoff_max_s,
                       jitter=False) - interval / 2


# -- how a stored batch moves the connector's state (bound with functools.partial) --------


def _journal_read(state: ConnectorState, *, expected: int | None, reached: int | None,
                  now: datetime, resync_from: datetime | None, reason: str | None) -> None:
    if state.journal_position != expected:
        raise PositionMoved(f"position is now {state.journal_position}, not {expected}")
    state.journal_position = reached
    state.journal_read_at = now
    if resync_from is not None and (state.resync_from is None
                                    or resync_from < state.resync_from):
        state.resync_from, state.resync_reason = resync_from, reason


def _resync_paged(state: ConnectorState, *, expected: datetime, reached: datetime | None,
                  now: datetime) -> None:
    if state.resync_from != expected:
        raise PositionMoved(f"re-sync cursor is now {state.resync_from}, not {expected}")
    state.resync_from = reached
    if reached is None:
        state.last_resync_at = now


def _synced(state: ConnectorState, *, now: datetime, reason: str) -> None:
    state.last_resync_at = now
    state.resync_reason = reason


def _untouched(state: ConnectorState) -> None:
    return None


def build_baselinker_poller(runtime: Runtime, *, http: httpx.AsyncClient | None = None,
                            monotonic: Monotonic = time.monotonic,
                            sleep: Sleep = asyncio.sleep) -> BaseLinkerPoller:
    """The poller from the runtime's settings; ``monotonic``/``sleep`` drive rate limiting
    and backoff (tests pass a fake clock)."""
    settings = runtime.settings
    config = settings.baselinker
    client = BaseLinkerClient.from_settings(config, http=http, monotonic=monotonic, sleep=sleep)
    adapter = BaseLinkerAdapter(status_map=config.status_map,
                                default_currency=settings.shop.currency,
                                region=settings.shop.country)
    return BaseLinkerPoller(sessions=runtime.sessions, settings=settings, client=client,
                            adapter=adapter)
