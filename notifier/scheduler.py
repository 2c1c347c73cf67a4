"""APScheduler wiring: small jobs, each one step with the time passed in.

Jobs are not persisted and there is one per kind of work, not per entity: what is due
lives in the database (indexed due times), so a restart loses nothing and a burst after
downtime is found by the next scan instead of being dropped as a misfire.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from notifier.pipeline import Engine
from notifier.store.leases import take_lease


def create_scheduler(engine: Engine) -> AsyncIOScheduler:
    settings = engine.runtime.settings.scheduler
    clock = engine.runtime.clock
    scheduler = AsyncIOScheduler(timezone="UTC")

    async def detect() -> None:
        await engine.detect(clock())

    async def dispatch() -> None:
        await engine.dispatch(clock())

    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(detect, "interval", seconds=settings.detect_interval_s, id="detect",
                      **common)
    scheduler.add_job(dispatch, "interval", seconds=settings.dispatch_interval_s,
                      id="dispatch", **common)
    async def track() -> None:
        await engine.track(clock())

    scheduler.add_job(track, "interval", seconds=engine.runtime.settings.track.interval_s,
                      id="track", **common)
    bounces = engine.runtime.settings.email.bounces
    if bounces.enabled:
        reader = engine.dispatcher.owner

        async def read_bounces() -> None:
            # One worker reads the mailbox at a time (another takes over when it lapses).
            now = clock()
            leased = await asyncio.to_thread(
                take_lease, engine.runtime.sessions, "bounces", owner=reader, now=now,
                ttl=timedelta(seconds=bounces.interval_s * 3))
            if leased:
                await engine.poll_bounces(now)

        scheduler.add_job(read_bounces, "interval", seconds=bounces.interval_s, id="bounces",
                          **common)
    transit = engine.runtime.settings.transit
    if transit.enabled:
        async def refit_transit() -> None:
            # Singleton work: the worker holding the lease refits; the others only read.
            await engine.refit_transit(clock())

        async def first_fit() -> None:
            await engine.refit_transit(clock(), if_missing=True)

        scheduler.add_job(refit_transit, "cron", hour=transit.refit_hour, minute=0,
                          timezone=engine.runtime.settings.shop.timezone, id="transit-refit",
                          **common)
        scheduler.add_job(first_fit, id="transit-first-fit", **common)  # once, at start
    if engine.baselinker is not None:
        poller = engine.baselinker
        interval = engine.runtime.settings.baselinker.poll_interval_s
        owner = engine.dispatcher.owner

        async def poll() -> None:
            # Singleton work: one worker polls; another takes over when its lease lapses.
            now = clock()
            leased = await asyncio.to_thread(
                take_lease, engine.runtime.sessions, "baselinker", owner=owner, now=now,
                ttl=timedelta(seconds=interval * 3))
            if leased:
                await poller.poll(now)

        scheduler.add_job(poll, "interval", seconds=interval, id="baselinker", **common)
    return scheduler
