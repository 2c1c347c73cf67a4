"""Group commit for the writes of concurrent sends: one transaction every few milliseconds.

Each send of a batch writes twice: its attempt before the provider call, the provider's
answer after it. Committing each on its own costs a transaction (an fsync on SQLite) per
write; instead the sends queue their writes here and one writer commits whatever is
queued together, at most every ``window_s``:

    group = GroupCommit(write, window_s=0.005)
    attempt = await group.submit(begin)      # waits until the commit holding it is done
    answered = group.post(answer)            # queued; await it later (or not at all)
    await group.drain()                      # the batch ends with nothing left unwritten

``write(jobs)`` returns one result per job, an exception standing for that job's
failure. ``run(write, jobs)`` calls it: in a worker thread by default; the dispatcher
passes :func:`~notifier.store.db.run_write`, which writes on the event loop when SQLite's
write lock is free (a group then waits for nothing but its fsync, and a worker thread
would trade the interpreter lock with the sends in the middle of it).
A commit is never held until the batch ends: a crash loses at most the answers of the
last window, whose attempts stay open and are judged by ``delivery.on_unknown`` like any
call whose answer never came.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from notifier.store.db import settle

log = logging.getLogger(__name__)

J = TypeVar("J")


class GroupCommit(Generic[J]):
    """Queues jobs from many coroutines and writes them in groups, one group at a time."""

    def __init__(self, write: Callable[[list[J]], Sequence[object]], *,
                 window_s: float,
                 run: Callable[..., Awaitable[Sequence[object]]] = asyncio.to_thread) -> None:
        self.write = write
        self.window_s = window_s
        self.run = run
        self._queue: list[tuple[J, asyncio.Future[object]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._last = 0.0

    def post(self, job: J) -> asyncio.Future[object]:
        """Queue ``job``; the future resolves once the commit holding it is done."""
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._queue.append((job, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._run())
        return future

    async def submit(self, job: J) -> object:
        """Queue ``job`` and wait for its commit (its result, or its exception raised)."""
        return await self.post(job)

    async def drain(self) -> None:
        """Wait until everything queued so far is written."""
        while self._writer is not None:
            await asyncio.shield(self._writer)

    async def _run(self) -> None:
        try:
            while self._queue:
                # Commits at most every window: jobs arriving meanwhile share the next one.
                wait = self._last + self.window_s - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                jobs, self._queue = self._queue, []
                try:
                    results = await self.run(self.write, [job for job, _ in jobs])
                except Exception as exc:  # the whole group failed (the writer logs why)
                    results = [exc] * len(jobs)
                self._last = time.monotonic()
                settle((future, result)
                       for (_, future), result in zip(jobs, results, strict=True))
        finally:
            self._writer = None
            for _, future in self._queue:  # cancelled mid-wait: nothing more is written
                if not future.done():
                    future.cancel()
            self._queue = []
