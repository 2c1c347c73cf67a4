"""Counters an operator watches, and the alert when a code pool runs low or dry.

:class:`OfferMetrics` is per process (a metrics endpoint or log line reads it):
``counts`` holds ``issued:<policy>``, ``declined:<reason kind>:<policy>``,
``pool_low:<policy>``, ``pool_empty:<policy>``; ``pool_remaining`` the last seen number
of free codes per pool. A pool alert is also logged as a warning and, when the offers
webhook wants ``offer.pool_low`` / ``offer.pool_empty``, queued as a signed webhook at
most once per pool and day (the dedupe key carries the date).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from notifier.config import Settings
from notifier.store import outbox

log = logging.getLogger(__name__)


@dataclass
class OfferMetrics:
    counts: Counter[str] = field(default_factory=Counter)
    pool_remaining: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def remaining(self, pool: str, left: int) -> None:
        with self._lock:
            self.pool_remaining[pool] = left


def pool_alert(session: Session, settings: Settings, metrics: OfferMetrics, *, pool: str,
               left: int, threshold: int, now: datetime) -> None:
    """Raise the low (``left <= threshold``) or empty (``left == 0``) alert for ``pool``."""
    metrics.remaining(pool, left)
    if left > threshold and left > 0:
        return
    event = "offer.pool_empty" if left == 0 else "offer.pool_low"
    metrics.count(f"{event.removeprefix('offer.')}:{pool}")
    log.warning("offer code pool %r %s: %d code(s) left (alert threshold %d)", pool,
                "is empty" if left == 0 else "runs low", left, threshold)
    if settings.offers.webhook.url and event in settings.offers.webhook_events:
        outbox.enqueue_webhook(session, target="offers", event=event,
                               data={"pool": pool, "remaining": left, "threshold": threshold},
                               now=now, key=f"{event}:{pool}:{now.date().isoformat()}")
