"""How soon again and how fast: the one backoff and the one rate limiter.

Every caller that retries (the dispatcher for every outbox row, the BaseLinker client
within one poll, the poller between failed polls) asks :func:`backoff`; every caller
that must stay under a provider's request budget holds a :class:`RateLimiter`. Channels
declare their budget as a class attribute (``rate_limit``) and the dispatcher enforces it
in one place.

Time is injected (a monotonic ``now`` and an async ``sleep``) so tests move a fake clock
instead of waiting.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def backoff(failures: int, *, base_s: float, max_s: float, retry_after: float | None = None,
            jitter: bool = True, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``failures``-th failure in a row (1-based).

    ``base * 2^(failures-1)`` capped at ``max_s``. With ``jitter`` the wait is 50-100% of
    that step, so a burst of failures does not retry in the same second. A provider's
    ``Retry-After`` is a floor.
    """
    step = float(min(max_s, base_s * (2 ** min(max(0, failures - 1), 32))))
    delay = step * (0.5 + (rng or random).random() / 2) if jitter else step
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


class RateLimiter:
    """``await limiter.acquire()`` before each call: at most ``per_window`` calls in any
    sliding ``window_s`` (per process); it waits while the budget is spent.

        RateLimiter(100)                                  # BaseLinker: 100 a minute
        RateLimiter(10, window_s=1.0)                     # an SMS provider: 10 a second
        RateLimiter(2, monotonic=fake.now, sleep=fake.sleep)    # in tests

    A provider that tells us to stop (rate-limit error, ``Retry-After``) :meth:`pause` s
    every later call, not only the one that was refused.
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

    @classmethod
    def per_second(cls, rate: float) -> RateLimiter | None:
        """``rate`` calls a second (fractions allowed: 0.5 is one call every 2 s); 0: none."""
        if rate <= 0:
            return None
        if rate >= 1:
            return cls(int(rate), window_s=1.0)
        return cls(1, window_s=1.0 / rate)

    def wait_needed(self) -> float:
        """Seconds until one more call fits the budget (0: now)."""
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
        """Hold every call for ``seconds`` from now (the provider asked us to stop)."""
        self._paused_until = max(self._paused_until, self.monotonic() + seconds)
