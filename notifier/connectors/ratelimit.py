"""Client-side request budget: at most N requests in any sliding minute.

Time is injected (a monotonic ``now`` and an async ``sleep``) so tests move a fake clock
instead of waiting. A platform that tells us to stop (rate-limit error, ``Retry-After``)
:meth:`pause` s every later request, not only the one that was refused.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """``await limiter.acquire()`` before each request; it waits while the budget is spent.

        limiter = RateLimiter(100)                       # BaseLinker: 100 a minute
        limiter = RateLimiter(2, monotonic=fake.now, sleep=fake.sleep)   # in tests
    """

    def __init__(self, per_window: int, *, window_s: float = 60.0,
                 monotonic: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        if per_window < 1:
            raise ValueError("per_window must be at least 1")
        self.per_window = per_window
        self.window_s = window_s
        self.monotonic = monotonic
        self.sleep = sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def wait_needed(self) -> float:
        """Seconds until one more request fits the budget (0: now)."""
        now = self.monotonic()
        while self._sent and self._sent[0] <= now - self.window_s:
            self._sent.popleft()
        wait = self._paused_until - now
        if len(self._sent) >= self.per_window:
            wait = max(wait, self._sent[0] + self.window_s - now)
        return max(wait, 0.0)

    async def acquire(self) -> None:
        async with self._lock:
            while (wait := self.wait_needed()) > 0:
                await self.sleep(wait)
            self._sent.append(self.monotonic())

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` from now (the platform asked us to stop)."""
        self._paused_until = max(self._paused_until, self.monotonic() + seconds)


def backoff(attempt: int, *, base_s: float, max_s: float) -> float:
    """``base * 2^attempt`` capped at ``max_s`` (attempt counts from 0)."""
    return float(min(max_s, base_s * (2 ** min(attempt, 32))))
