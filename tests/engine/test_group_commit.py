"""The dispatcher's group commit: concurrent sends share transactions, each job gets its
own result, and a job the database refuses fails alone, never its neighbours."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from unittest.mock import ANY

import pytest
import sqlalchemy as sa
from sqlmodel import select

from notifier.clock import FrozenClock
from notifier.dispatch.batch import Send
from notifier.dispatch.group import GroupCommit
from notifier.dispatch.record import Answer, Begin, Job, Lost
from notifier.pipeline import Engine
from notifier.runtime import Runtime
from notifier.store import outbox
from notifier.store.db import transaction
from notifier.store.tables import DeliveryAttempt, Notification
from tests.engine.conftest import put

T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
DUE = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


async def test_jobs_from_many_coroutines_share_commits_and_keep_their_results() -> None:
    groups: list[list[int]] = []

    def write(jobs: list[int]) -> list[object]:
        groups.append(jobs)
        return [ValueError(f"job {j} refused") if j == 3 else j * 10 for j in jobs]

    group: GroupCommit[int] = GroupCommit(write, window_s=0)
    results = await asyncio.gather(*(group.submit(j) for j in range(8)),
                                   return_exceptions=True)
    await group.drain()

    assert len(groups) < 8 and sorted(j for g in groups for j in g) == list(range(8))
    assert [r for i, r in enumerate(results) if i != 3] == [0, 10, 20, 40, 50, 60, 70]
    assert isinstance(results[3], ValueError) and "job 3" in str(results[3])


async def test_a_job_the_database_refuses_fails_alone(engine: Engine, runtime: Runtime,
                                                      clock: FrozenClock) -> None:
    ids = await _claimed(engine, runtime, clock, 3)
    assert len(ids) == 3
    dispatcher = engine.dispatcher

    def begin(nid: int, channel: str | None) -> Begin:
        return Begin(nid, Send(channel, None, f"{nid}@example.pl"), DUE)  # type: ignore[arg-type]

    # An attempt without a channel breaks NOT NULL: the group's transaction fails, and
    # each job is written again alone.
    results = dispatcher.recorder.write([begin(ids[0], "email"), begin(ids[1], None),
                                         begin(ids[2], "email"), begin(10**9, "email")])
    assert isinstance(results[0], int) and isinstance(results[2], int)
    assert isinstance(results[1], Exception) and isinstance(results[3], Lost)

    sent = dispatcher.recorder.write([Answer(ids[0], int(str(results[0])),
                                             Send("email", None, "c0@example.pl"), DUE, 12,
                                             provider_id="<m0@example.pl>")])
    assert sent == ["sent"]
    with runtime.sessions() as session:
        attempts = {a.notification_id: a.outcome
                    for a in session.exec(select(DeliveryAttempt)).all()}
        statuses = {n.id: n.status for n in session.exec(select(Notification)).all()}
    assert attempts == {ids[0]: "sent", ids[2]: "sending"}
    assert statuses == {ids[0]: "sent", ids[1]: "sending", ids[2]: "sending"}


@pytest.fixture(autouse=True)
def _quiet_group_failure_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("CRITICAL", logger="notifier.dispatch.record")


async def test_plain_groups_write_what_the_general_path_writes(
        engine: Engine, runtime: Runtime, clock: FrozenClock,
        caplog: pytest.LogCaptureFixture) -> None:
    # On SQLite a group of plain begins and sent answers goes to the driver's cursor
    # (Recorder._write_plain, outbox.*_sqlite); it must leave the rows exactly as the
    # session's statements (Recorder._apply) do, as stored, byte for byte: the renewed
    # lease of a begin, its attempt, a sent answer and a begin in one group, a begin no
    # longer ours. On PostgreSQL both are the general path.
    p1, p2, g1, g2 = await _claimed(engine, runtime, clock, 4)
    recorder = engine.dispatcher.recorder
    # A failure on the driver falls back to the general path, which would pass the
    # comparison below: the warning it logs says whether that happened.
    caplog.set_level("WARNING", logger="notifier.dispatch.record")

    def plan(nid: int) -> Send:
        return Send("email", None, f"{nid}@example.pl", attempt_number=1, note="why")

    def general(jobs: list[Job]) -> list[object]:
        with transaction(runtime.sessions) as session:
            return recorder._apply(session, jobs)

    clock.set(DUE + timedelta(seconds=30))  # the lease renewed runs from the clock
    [a1] = recorder.write([Begin(p1, plan(p1), DUE)])
    [b1] = general([Begin(g1, plan(g1), DUE)])
    assert isinstance(a1, int) and isinstance(b1, int)
    _assert_stored_alike(runtime, {p1: g1})

    clock.set(DUE + timedelta(seconds=40))
    sent, a2, lost = recorder.write([Answer(p1, a1, plan(p1), DUE, 7, provider_id="<p>"),
                                     Begin(p2, plan(p2), DUE), Begin(10**9, plan(p2), DUE)])
    assert general([Answer(g1, b1, plan(g1), DUE, 7, provider_id="<p>"),
                    Begin(g2, plan(g2), DUE)]) == [sent, ANY]
    assert sent == "sent" and isinstance(a2, int) and isinstance(lost, Lost)
    _assert_stored_alike(runtime, {p1: g1, p2: g2})
    assert not [r for r in caplog.records if "failed on the driver" in r.getMessage()]


def _assert_stored_alike(runtime: Runtime, pairs: dict[int, int]) -> None:
    """Each notification of ``pairs`` and its attempts stored as its partner's are (the
    values as the database holds them: SQLite's text, not what a model parses back)."""
    def rows(table: str, key: str) -> dict[int, list[dict[str, object]]]:
        out: dict[int, list[dict[str, object]]] = {}
        for row in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id")).mappings():
            out.setdefault(row[key], []).append(
                {k: v for k, v in row.items() if k not in _IDENTITY})
        return out

    with runtime.engine.connect() as conn:
        notifications, attempts = rows("notifications", "id"), rows("delivery_attempts",
                                                                    "notification_id")
    for mine, theirs in pairs.items():
        assert notifications[mine] == notifications[theirs]
        assert attempts[mine] == attempts[theirs] and attempts[mine]


# Columns that name the row or its order, not what was written.
_IDENTITY = {"id", "key", "entity_id", "subject_id", "recipient", "customer_id",
             "notification_id"}


async def _claimed(engine: Engine, runtime: Runtime, clock: FrozenClock, count: int
                   ) -> list[int]:
    """``count`` unshipped orders detected at DUE, their messages claimed by the dispatcher."""
    for i in range(count):
        put(runtime, "order", {
            "external_id": f"o{i}", "currency": "PLN", "total": "100",
            "payment_status": "paid", "placed_at": T0.isoformat(),
            "ship_by": "2026-12-02T12:00:00+01:00",
            "customer": {"external_id": f"c{i}", "email": f"c{i}@example.pl"}}, now=T0)
    clock.set(DUE)
    await engine.detect(DUE)
    with transaction(runtime.sessions) as session:
        return sorted(outbox.claim(session, now=DUE, owner=engine.dispatcher.owner,
                                   lease=timedelta(minutes=5), limit=10))
