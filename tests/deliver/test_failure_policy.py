"""The one failure policy of every outbox row, as a table: what follows a failed attempt."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from notifier.deliver.base import permanent, transient, unknown
from notifier.deliver.policies import Fail, FallBack, Hold, Retry, RetryPolicy, after_failure
from notifier.errors import DeliveryError, Suppress
from notifier.pacing import backoff

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=4, backoff_base_s=30, backoff_max_s=100)


class Half(random.Random):
    """Jitter pinned to its middle (75% of the step) so the table is exact."""

    def random(self) -> float:
        return 0.5


STOP = permanent("twilio 400 (21610): unsubscribed", "twilio:21610",
                 suppress="recipient replied STOP (Twilio 21610)")

TABLE: list[tuple[str, int, DeliveryError, list[str], RetryPolicy, bool, object]] = [
    ("transient, first failure", 1, transient("smtp 451", "smtp-4xx:451"), [], POLICY, False,
     Retry(NOW + timedelta(seconds=22.5), "")),
    ("transient, third failure: 30*4 capped at 100", 3, transient("x", "http-503"), [],
     POLICY, False, Retry(NOW + timedelta(seconds=75), "")),
    ("Retry-After is a floor", 1, transient("slow down", "http-429", 600.0), [], POLICY,
     False, Retry(NOW + timedelta(seconds=600), "")),
    ("out of attempts", 4, transient("x", "http-503"), ["sms"], POLICY, False,
     Fail("gave up after 4 attempts; last: http-503: x")),
    ("permanent with a channel left falls back", 1, permanent("bounce", "smtp-5xx:550"),
     ["sms", "push"], POLICY, False,
     FallBack("sms", "failed permanently (smtp-5xx:550: bounce); falling back")),
    ("permanent on the last channel fails and suppresses", 1, STOP, [], POLICY, False,
     Fail("permanent failure: twilio:21610: twilio 400 (21610): unsubscribed",
          Suppress("recipient replied STOP (Twilio 21610)"))),
    ("unknown outcome is held by default", 1, unknown("no final reply", "smtp-unknown"),
     ["sms"], POLICY, False,
     Hold("unknown outcome, held (on_unknown = hold, not resent): smtp-unknown: no final "
          "reply")),
    ("unknown outcome resent when configured", 1, unknown("no final reply", "smtp-unknown"),
     [], RetryPolicy(4, 30, 100, on_unknown="resend"), False,
     Retry(NOW + timedelta(seconds=22.5), "")),
    ("unknown outcome on an idempotent channel is retried", 2,
     unknown("read timeout", "network"), [], POLICY, True,
     Retry(NOW + timedelta(seconds=45), "")),
]


@pytest.mark.parametrize(("case", "attempts", "error", "left", "policy", "idempotent",
                          "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_after_failure(case: str, attempts: int, error: DeliveryError, left: list[str],
                       policy: RetryPolicy, idempotent: bool, expected: object) -> None:
    got = after_failure(attempts, error, left, NOW, policy=policy, idempotent=idempotent,
                        rng=Half())
    assert type(got) is type(expected)
    if isinstance(expected, Retry):
        assert isinstance(got, Retry) and got.at == expected.at
        assert got.reason == f"retry {attempts + 1} at {expected.at.isoformat()} after " \
                             f"{error.code}: {error.reason}"
    else:
        assert got == expected


def test_backoff_doubles_with_jitter_between_half_and_whole_step() -> None:
    rng = random.Random(3)
    for failures, step in [(1, 30), (2, 60), (3, 120), (4, 240), (9, 3600)]:
        wait = backoff(failures, base_s=30, max_s=3600, rng=rng)
        assert step / 2 <= wait <= step
    assert backoff(2, base_s=30, max_s=3600, jitter=False) == 60
