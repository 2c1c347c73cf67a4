"""Group commit: concurrent requests share one transaction, each answered after it commits.

    committer = GroupCommitter(ingestor, max_records=200, window=timedelta(milliseconds=5))
    receipt = await committer.receive(inbound)      # in a request handler

A commit costs an fsync (SQLite ``synchronous=FULL``, PostgreSQL ``synchronous_commit``)
and a transaction's own statements; one per request capped ingest near 800 requests/s
whatever the hardware. Here a writer task on the request's event loop takes the waiting
requests, up to ``max_records`` records, applies them with :meth:`Ingestor.receive_batch`
and only then answers them: a request is never told 200 before its records are durable.
Before a batch it waits, at most ``window`` after the last commit, until as many requests
wait as the last batch held: the clients just answered are sending their next ones, and
taking only the first of them would run many small batches (each with its own statements
and fsync) while the event loop parses the rest. So batches follow the load: one request
alone is applied at once, 32 busy clients share one transaction.

The writer runs on the event loop, not in a thread of its own: a writer thread and the
loop traded the interpreter lock in the middle of every batch, and that cost more CPU
than the batch itself (on a 2-core machine the writer's Python took 2.4 times its cost
alone, the loop's 1.5 times; ``docs/performance.md``). On SQLite the batch runs on the
loop as it is (a few milliseconds of statements and one fsync, with nothing else to do:
its requests are what the loop was waiting for), unless another thread of the process
holds the write lock (``notifier serve``'s detection and dispatch): then it waits for
the lock in a worker thread. (Another process writing the same SQLite file would make
the loop wait on SQLite's busy timeout: more processes is what PostgreSQL is for.) On
PostgreSQL it runs inside
SQLAlchemy's ``greenlet_spawn`` over the writer's own asyncio connection in pipeline mode
(``pipeline.py``): every wait for the server is an ``await``, so the loop parses the next
requests meanwhile. What needs the pool's blocking connections on PostgreSQL (a batch with
Idempotency-Keys, shipments or carts; a request applied alone) goes to a worker thread.

A batch that fails (a value the database refuses, two writers creating the same row, a
deadlock) is rolled back and each of its requests is applied alone, so one bad record
fails only its own request. A request repeating an earlier one's dedupe key or
Idempotency-Key in the same batch waits for the next batch, which sees the first one's
outcome.

``writers`` > 1 (PostgreSQL: ``notifier api`` runs two) lets a second batch be applied on
its own connection while the first waits for its round trips and its commit: the batches
are then two transactions as those of two api processes are, serialised by the same row
locks and unique keys (a batch that meets another's uncommitted row waits for it; one
that fails on a key the other just wrote is applied request by request). SQLite has one
writer at a time whatever the tasks, so it keeps one. A writer starts with the first
request that finds none free and ends after ``idle_s`` without one, closing its
connection, so an app that is built and thrown away (tests) leaves nothing open. Each
event loop has writers of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.util import greenlet_spawn

from notifier.ingest.pipeline import HeldConnection
from notifier.ingest.service import Inbound, Ingestor, Receipt
from notifier.store.db import run_write, settle

log = logging.getLogger(__name__)


@dataclass
class _Waiting:
    item: Inbound
    future: asyncio.Future[Receipt]
    since: float


@dataclass
class _Lane:
    """The waiting requests and writers of one event loop."""

    queue: deque[_Waiting] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    records: int = 0  # records waiting (a request without any counts 1)
    running: int = 0  # writer tasks alive
    free: int = 0  # of those, the ones waiting for a batch (not applying one)
    last_commit: float = 0.0  # time.monotonic() when the last batch was answered
    last_size: int = 1  # requests in the last batch
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class GroupCommitter:
    """Batches :class:`Inbound` payloads onto ``writers`` writer tasks per event loop."""

    def __init__(self, ingestor: Ingestor, *, max_records: int = 200,
                 window: timedelta = timedelta(milliseconds=5), idle_s: float = 2.0,
                 on_batch: Callable[[int, float], None] = lambda _requests, _s: None,
                 writers: int = 1) -> None:
        self.ingestor = ingestor
        self.on_batch = on_batch  # told each batch's requests and seconds (metrics)
        self.max_records = max_records
        self.window = window.total_seconds()
        self.idle_s = idle_s
        self.writers = writers
        self._lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Lane] = \
            weakref.WeakKeyDictionary()

    async def receive(self, item: Inbound) -> Receipt:
        """The item's receipt, once the batch holding it has committed."""
        loop = asyncio.get_running_loop()
        lane = self._lanes.get(loop)
        if lane is None:
            lane = self._lanes[loop] = _Lane()
        waiting = _Waiting(item, loop.create_future(), time.monotonic())
        first = not lane.queue
        lane.queue.append(waiting)
        lane.records += _weight(item)
        self._spawn(lane)
        # A writer has something to decide at the first request (it then waits the
        # window on its own) and at a full batch.
        if first or self._full(lane):
            lane.wake.set()
        return await waiting.future

    def _spawn(self, lane: _Lane) -> None:
        """Start a writer if requests wait, no writer is free to take them and fewer than
        ``writers`` run."""
        if lane.queue and lane.free == 0 and lane.running < self.writers:
            lane.running += 1
            lane.free += 1
            task = asyncio.get_running_loop().create_task(self._write(lane),
                                                          name="ingest-commit")
            lane.tasks.add(task)  # a task only the loop refers to may be collected
            task.add_done_callback(lane.tasks.discard)

    def _full(self, lane: _Lane) -> bool:
        return lane.records >= self.max_records or len(lane.queue) >= lane.last_size

    async def _write(self, lane: _Lane) -> None:
        held = self.ingestor.hold()  # the writer's own connection (PostgreSQL)
        try:
            while (batch := await self._next_batch(lane)) is not None:
                try:
                    await self._commit(lane, batch, held)
                except Exception as exc:  # never leave a request waiting for ever
                    log.exception("ingest writer failed")
                    settle((waiting.future, exc) for waiting in batch)
                lane.free += 1
        finally:
            if held is not None:
                with contextlib.suppress(Exception):
                    await greenlet_spawn(held.close)

    async def _next_batch(self, lane: _Lane) -> list[_Waiting] | None:
        """The next batch: whatever waits, once ``max_records`` records wait, or as many
        requests as the last batch held (its clients are sending their next ones), or
        ``window`` has passed since the first arrived and the last batch committed; None
        (and the writer ends) after ``idle_s`` of nothing."""
        while True:  # (another writer may take what this one waited for)
            if not lane.queue:
                lane.wake.clear()
                if not await _woken(lane.wake, self.idle_s) and not lane.queue:
                    lane.running -= 1
                    lane.free -= 1
                    return None
                continue
            if self._full(lane):
                break
            start = max(lane.queue[0].since, lane.last_commit)
            left = start + self.window - time.monotonic()
            if left <= 0:
                break
            lane.wake.clear()
            await _woken(lane.wake, left)
        batch, records = [], 0
        while lane.queue and (not batch or records < self.max_records):
            waiting = lane.queue.popleft()
            batch.append(waiting)
            records += _weight(waiting.item)
        lane.records -= records
        lane.free -= 1
        self._spawn(lane)  # what is left may go to another writer meanwhile
        return batch

    async def _commit(self, lane: _Lane, batch: list[_Waiting],
                      held: HeldConnection | None) -> None:
        items = [w.item for w in batch]
        started = time.monotonic()
        try:
            answers: list[Receipt | BaseException | None] = list(
                await self._apply(items, held))
        except Exception as exc:  # every request is retried alone below
            log.warning("ingest batch of %d failed (%s: %s); applying each alone",
                        len(batch), type(exc).__name__, exc)
            answers = [await self._alone(item) for item in items]
        lane.last_commit, lane.last_size = time.monotonic(), len(batch)
        self.on_batch(len(batch), lane.last_commit - started)
        deferred = [w for w, answer in zip(batch, answers, strict=True) if answer is None]
        settle((w.future, answer) for w, answer in zip(batch, answers, strict=True)
               if answer is not None)
        if deferred:
            lane.queue.extendleft(reversed(deferred))
            lane.records += sum(_weight(w.item) for w in deferred)

    async def _apply(self, items: list[Inbound],
                     held: HeldConnection | None) -> list[Receipt | None]:
        if held is not None and self.ingestor.pipelinable(items):  # its waits are the loop's
            return await greenlet_spawn(self.ingestor.receive_batch, items, held=held)
        return await run_write(self.ingestor.factory, self.ingestor.receive_batch, items)

    async def _alone(self, item: Inbound) -> Receipt | BaseException:
        try:
            return await run_write(self.ingestor.factory, self.ingestor.receive_one, item)
        except Exception as exc:  # it fails its own request only
            return exc


async def _woken(event: asyncio.Event, timeout: float) -> bool:
    """Whether ``event`` was set within ``timeout`` seconds."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
            return True
    return event.is_set()


def _weight(item: Inbound) -> int:
    return max(1, len(item.records))
