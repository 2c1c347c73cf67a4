"""The dispatcher's group commit: concurrent sends share transactions, each job gets its
own result, and a job the database refuses fails alone, never its neighbours."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from notifier.clock import FrozenClock
from notifier.dispatch.batch import Send
from notifier.dispatch.group import GroupCommit
from notifier.dispatch.record import Answer, Begin, Lost
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


async def test_plain_groups_write_what_the_general_path_writes(engine: Engine, runtime: Runtime,
                                                               clock: FrozenClock) -> None:
    # On SQLite a group of plain begins and sent answers goes to the driver as SQL text
    # (Recorder._write_plain); it must leave the rows exactly as the session's statements
    # (Recorder._apply) do. On PostgreSQL both are the general path.
    plain, general = await _claimed(engine, runtime, clock, 2)
    recorder = engine.dispatcher.recorder

    def plan(nid: int) -> Send:
        return Send("email", None, f"{nid}@example.pl", attempt_number=1, note="why")

    [attempt] = recorder.write([Begin(plain, plan(plain), DUE)])
    with transaction(runtime.sessions) as session:
        [other] = recorder._apply(session, [Begin(general, plan(general), DUE)])
    assert isinstance(attempt, int) and isinstance(other, int)
    assert recorder.write([Answer(plain, attempt, plan(plain), DUE, 7, provider_id="<p>")]) \
        == ["sent"]
    with transaction(runtime.sessions) as session:
        assert recorder._apply(session, [Answer(general, other, plan(general), DUE, 7,
                                                provider_id="<p>")]) == ["sent"]

    with runtime.sessions() as session:
        rows = {n.id: n.model_dump(exclude={"id", "key", "entity_id", "subject_id",
                                            "recipient", "customer_id"})
                for n in session.exec(select(Notification)).all()}
        attempts = {a.notification_id: a.model_dump(exclude={"id", "notification_id"})
                    for a in session.exec(select(DeliveryAttempt)).all()}
    assert rows[plain] == rows[general] and rows[plain]["status"] == "sent"
    assert attempts[plain] == attempts[general] and attempts[plain]["outcome"] == "sent"


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
