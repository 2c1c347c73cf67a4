"""A per-provider rate limit inside one worker process."""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
    """At most ``rate`` calls per second, spaced evenly (per worker process)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_at = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self.lock:
            delay = self.next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.next_at = max(self.next_at, time.monotonic()) + self.interval
