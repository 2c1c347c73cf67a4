"""Group commit: concurrent requests share one transaction, each answered after it commits.

    committer = GroupCommitter(ingestor, max_records=200, window=timedelta(milliseconds=5))
    receipt = await committer.receive(inbound)      # in a request handler

A commit costs an fsync (SQLite ``synchronous=FULL``, PostgreSQL ``synchronous_commit``)
and a transaction's own statements; one per request capped ingest near 800 requests/s
whatever the hardware. Here one writer thread takes the waiting requests, up to
``max_records`` records, applies them with :meth:`Ingestor.receive_batch` and only then
answers them: a request is never told 200 before its records are durable. Before a batch
it waits, at most ``window`` after the last commit, until as many requests wait as the
last batch held: the clients just answered are sending their next ones, and taking only
the first of them would run many small batches (each with its own statements and
fsync) while the event loop parses the rest. So batches follow the load: one request
alone is applied at once, 32 busy clients share one transaction.

A batch that fails (a value the database refuses, two writers creating the same row, a
deadlock) is rolled back and each of its requests is applied alone, so one bad record
fails only its own request. A request repeating an earlier one's dedupe key or
Idempotency-Key in the same batch waits for the next batch, which sees the first one's
outcome.

The writer thread starts with the first request and ends after ``idle_s`` without one,
so an app that is built and thrown away (tests) leaves nothing running.

``writers`` > 1 (PostgreSQL: ``notifier api`` runs two) lets a second batch be applied on
its own connection while the first waits for its round trips and its commit: the batches
are then two transactions as those of two api processes are, serialised by the same row
locks and unique keys (a batch that meets another's uncommitted row waits for it; one
that fails on a key the other just wrote is applied request by request). SQLite has one
writer at a time whatever the threads, so it keeps one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from notifier.ingest.pipeline import HeldConnection
from notifier.ingest.service import Inbound, Ingestor, Receipt

log = logging.getLogger(__name__)


@dataclass
class _Waiting:
    item: Inbound
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Receipt]
    since: float


class GroupCommitter:
    """Batches :class:`Inbound` payloads of any number of event loops onto ``writers``
    writer threads."""

    def __init__(self, ingestor: Ingestor, *, max_records: int = 200,
                 window: timedelta = timedelta(milliseconds=5), idle_s: float = 2.0,
                 on_batch: Callable[[int], None] = lambda _requests: None,
                 writers: int = 1) -> None:
        self.ingestor = ingestor
        self.on_batch = on_batch  # told each batch's number of requests (a metric)
        self.max_records = max_records
        self.window = window.total_seconds()
        self.idle_s = idle_s
        self._queue: deque[_Waiting] = deque()
        self._ready = threading.Condition()
        self.writers = writers
        self._running = 0  # writer threads alive
        self._free = 0  # of those, the ones waiting for a batch (not applying one)
        self._last_commit = 0.0  # time.monotonic() when the last batch was answered
        self._last_size = 1  # requests in the last batch
        self._records = 0  # records waiting in the queue (a request without any counts 1)

    async def receive(self, item: Inbound) -> Receipt:
        """The item's receipt, once the batch holding it has committed."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(item, loop, loop.create_future(), time.monotonic())
        with self._ready:
            first = not self._queue
            self._queue.append(waiting)
            self._records += _weight(item)
            self._spawn()
            # The writer is woken when it has something to decide: the first request (it
            # then waits the window on its own) and a full batch. Waking it for every
            # request made both threads trade the GIL once per request.
            if first or self._full():
                self._ready.notify()
        return await waiting.future

    def _spawn(self) -> None:
        """Start a writer if requests wait, no writer is free to take them and fewer than
        ``writers`` run (called holding ``_ready``)."""
        if self._queue and self._free == 0 and self._running < self.writers:
            self._running += 1
            self._free += 1
            threading.Thread(target=self._write, name="ingest-commit", daemon=True).start()

    def _full(self) -> bool:
        return self._records >= self.max_records or len(self._queue) >= self._last_size

    def _write(self) -> None:
        held = self.ingestor.hold()  # the thread's own connection (PostgreSQL)
        try:
            while (batch := self._next_batch()) is not None:
                try:
                    self._commit(batch, held)
                except Exception as exc:  # never leave a request waiting for ever
                    log.exception("ingest writer failed")
                    _answer([(waiting, exc) for waiting in batch])
                with self._ready:
                    self._free += 1
        finally:
            if held is not None:
                held.close()

    def _next_batch(self) -> list[_Waiting] | None:
        """The next batch: whatever waits, once ``max_records`` records wait, or as many
        requests as the last batch held (its clients are sending their next ones), or
        ``window`` has passed since the first arrived and the last batch committed; None
        (and the thread ends) after ``idle_s`` of nothing."""
        with self._ready:
            while True:  # (another writer may take what this one waited for)
                if not self._queue:
                    if not self._ready.wait(self.idle_s) and not self._queue:
                        self._running -= 1
                        self._free -= 1
                        return None
                    continue
                if self._full():
                    break
                start = max(self._queue[0].since, self._last_commit)
                left = start + self.window - time.monotonic()
                if left <= 0:
                    break
                self._ready.wait(left)
            batch, records = [], 0
            while self._queue and (not batch or records < self.max_records):
                waiting = self._queue.popleft()
                batch.append(waiting)
                records += _weight(waiting.item)
            self._records -= records
            self._free -= 1
            self._spawn()  # what is left may go to another writer meanwhile
            return batch

    def _commit(self, batch: list[_Waiting], held: HeldConnection | None) -> None:
        try:
            answers: list[Receipt | BaseException | None] = list(
                self.ingestor.receive_batch([w.item for w in batch], held=held))
        except Exception as exc:  # every request is retried alone below
            log.warning("ingest batch of %d failed (%s: %s); applying each alone",
                        len(batch), type(exc).__name__, exc)
            answers = [self._alone(w.item) for w in batch]
        self._last_commit, self._last_size = time.monotonic(), len(batch)
        self.on_batch(len(batch))
        deferred = [w for w, answer in zip(batch, answers, strict=True) if answer is None]
        _answer([(w, answer) for w, answer in zip(batch, answers, strict=True)
                 if answer is not None])
        if deferred:
            with self._ready:
                self._queue.extendleft(reversed(deferred))
                self._records += sum(_weight(w.item) for w in deferred)

    def _alone(self, item: Inbound) -> Receipt | BaseException:
        try:
            return self.ingestor.receive_one(item)
        except Exception as exc:  # it fails its own request only
            return exc


def _weight(item: Inbound) -> int:
    return max(1, len(item.records))


def _answer(answers: list[tuple[_Waiting, Receipt | BaseException]]) -> None:
    """Settle each waiting request's future on its own loop: one wake-up per loop (one
    write to its self-pipe), not one per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Receipt],
                                                        Receipt | BaseException]]] = {}
    for waiting, answer in answers:
        by_loop.setdefault(waiting.loop, []).append((waiting.future, answer))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
            loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[asyncio.Future[Receipt], Receipt | BaseException]]) -> None:
    for future, answer in settled:
        if future.done():  # the client went away
            continue
        if isinstance(answer, BaseException):
            future.set_exception(answer)
        else:
            future.set_result(answer)
