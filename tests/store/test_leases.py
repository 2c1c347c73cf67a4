"""Singleton leases: one holder at a time, taken over when the lease lapses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.runtime import Runtime
from notifier.store.leases import take_lease

T = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TTL = timedelta(minutes=3)


def test_one_holder_until_the_lease_lapses(runtime: Runtime) -> None:
    sessions = runtime.sessions
    assert take_lease(sessions, "baselinker", owner="a", now=T, ttl=TTL)
    assert not take_lease(sessions, "baselinker", owner="b", now=T + timedelta(minutes=1), ttl=TTL)
    assert take_lease(sessions, "baselinker", owner="a", now=T + timedelta(minutes=1), ttl=TTL)
    assert not take_lease(sessions, "baselinker", owner="b", now=T + timedelta(minutes=3), ttl=TTL)
    assert take_lease(sessions, "baselinker", owner="b", now=T + timedelta(minutes=5), ttl=TTL)
    assert take_lease(sessions, "other", owner="a", now=T, ttl=TTL)
