"""Batches of ingest: statements per batch, order inside a batch, one bad record alone."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.util import greenlet_spawn
from sqlmodel import col, select

from notifier.errors import PayloadError
from notifier.ingest.group_commit import GroupCommitter
from notifier.ingest.payloads import validate
from notifier.ingest.records import OrderIn
from notifier.ingest.service import Inbound, Ingestor
from notifier.runtime import Runtime
from notifier.store.consent_log import ConsentChange
from notifier.store.tables import Consent, Customer, InboundEvent, Order

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def order(n: int, *, customer: int | None = None, updated: datetime = T0,
          total: str = "10.00") -> OrderIn:
    data: dict[str, Any] = {"external_id": f"O-{n}", "currency": "PLN", "total": total,
                            "updated_at": updated.isoformat(),
                            "items": [{"name": "Kubek", "quantity": 1, "price": "10"}]}
    if customer is not None:
        data["customer"] = {"external_id": f"C-{customer}", "email": f"c{customer}@example.pl",
                            "consents": [{"channel": "email", "granted": True,
                                          "at": T0.isoformat()}]}
    return validate(OrderIn, data, context={"region": "PL"})  # type: ignore[return-value]


def inbound(records: list[Any], *, key: str | None = None, now: datetime = T0,
            error: PayloadError | None = None) -> Inbound:
    return Inbound("api", "orders", key, b"{}", now, tuple(records), error)


def statements(runtime: Runtime, items: list[Inbound], *, writer: Writer | None = None) -> int:
    seen: list[str] = []

    def count(*_args: Any) -> None:
        seen.append(_args[2])

    sa.event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        if writer is not None:
            writer.receive_batch(items)
        else:
            Ingestor(runtime.sessions, runtime.settings).receive_batch(items)
    finally:
        sa.event.remove(runtime.engine, "before_cursor_execute", count)
    return len(seen)


def test_a_batch_runs_statements_per_batch_not_per_record(runtime: Runtime) -> None:
    one = statements(runtime, [inbound([order(0, customer=0)], key="k0")])
    fifty = statements(runtime, [inbound([order(n, customer=n)], key=f"k{n}")
                                 for n in range(1, 51)])
    # The same statements for 1 and for 50 new orders with new customers.
    assert fifty == one
    again = statements(runtime, [inbound([order(n, customer=n, updated=T0 + timedelta(1))])
                                 for n in range(1, 51)])
    assert again <= one + 2  # updates, and the parcels of changed orders looked at again
    with runtime.sessions() as session:
        assert len(session.exec(select(Order)).all()) == 51
        assert len(session.exec(select(Consent)).all()) == 51
        assert len(session.exec(select(ConsentChange)).all()) == 51


def test_an_older_snapshot_after_a_newer_one_in_one_batch_is_stale(runtime: Runtime) -> None:
    newer, older = order(1, customer=1, updated=T0 + timedelta(hours=1), total="20"), \
        order(1, customer=1, total="10")
    receipts = Ingestor(runtime.sessions, runtime.settings).receive_batch(
        [inbound([newer]), inbound([older]), inbound([order(2, customer=1)])])
    assert [r.outcome for r in receipts] == ["applied", "stale", "applied"]  # type: ignore[union-attr]
    with runtime.sessions() as session:
        stored = session.exec(select(Order).where(Order.external_id == "O-1")).one()
        assert stored.total == Decimal("20")
        assert len(session.exec(select(Customer)).all()) == 1


def test_a_repeated_dedupe_key_waits_for_the_next_batch(runtime: Runtime) -> None:
    ingestor = Ingestor(runtime.sessions, runtime.settings)
    first = ingestor.receive_batch([inbound([order(1)], key="evt"), inbound([order(1)], key="evt")])
    assert first[0].outcome == "applied" and first[1] is None  # type: ignore[union-attr]
    [again] = ingestor.receive_batch([inbound([order(1)], key="evt")])
    assert again is not None and again.outcome == "duplicate"


def test_a_record_the_database_refuses_fails_only_its_own_request(runtime: Runtime) -> None:
    # Validation cannot let this through; built unvalidated, it is what a record the
    # database refuses looks like (NOT NULL currency).
    refused = OrderIn.model_construct(external_id="O-BAD", currency=None, total=Decimal(1),
                                      status="confirmed")
    committer = GroupCommitter(Ingestor(runtime.sessions, runtime.settings), max_records=100,
                               window=timedelta(milliseconds=50))
    items = [inbound([order(n, customer=n)], key=f"k{n}") for n in range(5)]
    items.insert(2, inbound([refused], key="k-bad"))
    items.append(inbound([], error=PayloadError("bad total", field="total")))

    async def post_all() -> list[Any]:
        return await asyncio.gather(*(committer.receive(i) for i in items),
                                    return_exceptions=True)

    answers = asyncio.run(post_all())
    assert isinstance(answers[2], sa.exc.IntegrityError)
    assert [a.outcome for a in answers if not isinstance(a, Exception)] == \
        ["applied"] * 5 + ["rejected"]
    assert answers[-1].field == "total" and answers[-1].http_status == 422
    with runtime.sessions() as session:
        assert sorted(o.external_id for o in session.exec(select(Order))) == \
            [f"O-{n}" for n in range(5)]
        outcomes = [e.outcome for e in session.exec(select(InboundEvent))]
        assert sorted(outcomes) == ["applied"] * 5 + ["rejected"]


@pytest.mark.parametrize("max_records", [1, 3])
def test_batches_hold_at_most_max_records(runtime: Runtime, max_records: int) -> None:
    sizes: list[int] = []
    took: list[float] = []
    committer = GroupCommitter(Ingestor(runtime.sessions, runtime.settings),
                               max_records=max_records, window=timedelta(milliseconds=50),
                               on_batch=lambda n, s: (sizes.append(n), took.append(s)))

    async def post_all() -> list[Any]:
        return await asyncio.gather(*(committer.receive(inbound([order(n)], key=f"k{n}"))
                                      for n in range(7)))

    assert [a.outcome for a in asyncio.run(post_all())] == ["applied"] * 7
    assert sum(sizes) == 7 and max(sizes) <= max_records and len(sizes) >= 7 / max_records
    assert len(took) == len(sizes) and all(s > 0 for s in took)


def test_two_writers_apply_every_request_once(runtime: Runtime) -> None:
    # Batches of at most 4 records on two writer threads: batches in flight at once, the
    # same customers in several of them, and a redelivery of every fifth order.
    committer = GroupCommitter(Ingestor(runtime.sessions, runtime.settings), max_records=4,
                               window=timedelta(milliseconds=50), writers=2)
    items = [inbound([order(n, customer=n % 5)], key=f"k{n}") for n in range(30)]
    items += [inbound([order(n, customer=n % 5)], key=f"k{n}") for n in range(0, 30, 5)]

    async def post_all() -> list[Any]:
        return await asyncio.gather(*(committer.receive(i) for i in items))

    answers = asyncio.run(post_all())
    # A redelivery is sent with its first copy: either may be the one applied.
    by_key: dict[str, list[str]] = {}
    for item, answer in zip(items, answers, strict=True):
        by_key.setdefault(item.dedupe_key, []).append(answer.outcome)  # type: ignore[arg-type]
    assert sorted(map(sorted, by_key.values())) == sorted(
        [["applied", "duplicate"]] * 6 + [["applied"]] * 24)
    with runtime.sessions() as session:
        assert sorted(o.external_id for o in session.exec(select(Order))) == \
            sorted(f"O-{n}" for n in range(30))
        assert len(session.exec(select(Customer)).all()) == 5
        assert len(session.exec(select(Consent)).all()) == 5
        assert len(session.exec(select(InboundEvent)).all()) == 30


# -- the writer's own connection: on PostgreSQL its pipeline (Ingestor.hold) -------------


class Writer:
    """A group-commit writer as ``notifier api`` runs one: its held connection (PostgreSQL;
    None on SQLite) and its event loop, each batch applied inside ``greenlet_spawn``."""

    def __init__(self, runtime: Runtime) -> None:
        self.ingestor = Ingestor(runtime.sessions, runtime.settings)
        self.held = self.ingestor.hold()
        self._loop = asyncio.Runner()

    def receive_batch(self, items: list[Inbound]) -> list[Any]:
        return self._loop.run(greenlet_spawn(self.ingestor.receive_batch, items,
                                             held=self.held))

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.held is not None:
            self._loop.run(greenlet_spawn(self.held.close))
        self._loop.close()


def held_statements(runtime: Runtime, writer: Writer, items: list[Inbound]) -> int:
    """Statements of a batch through SQLAlchemy and through the held connection."""
    held = writer.held
    before = held.sent if held is not None else 0
    through = statements(runtime, items, writer=writer)
    return through + (held.sent - before if held is not None else 0)


def test_a_held_connection_runs_the_same_statements_for_1_and_50_orders(runtime: Runtime) -> None:
    with Writer(runtime) as writer:
        assert (writer.held is None) == (runtime.engine.dialect.name == "sqlite")
        one = held_statements(runtime, writer, [inbound([order(0, customer=0)], key="k0")])
        fifty = held_statements(runtime, writer, [
            inbound([order(n, customer=n)], key=f"k{n}") for n in range(1, 51)])
        assert fifty == one
        again = held_statements(runtime, writer, [
            inbound([order(n, customer=n, updated=T0 + timedelta(1))]) for n in range(1, 51)])
        assert again <= one + 2
    with runtime.sessions() as session:
        assert len(session.exec(select(Order)).all()) == 51
        assert len(session.exec(select(Consent)).all()) == 51
        assert len(session.exec(select(ConsentChange)).all()) == 51


def test_a_held_connection_keeps_order_and_dedupe_inside_a_batch(runtime: Runtime) -> None:
    newer, older = order(1, customer=1, updated=T0 + timedelta(hours=1), total="20"), \
        order(1, customer=1, total="10")
    with Writer(runtime) as writer:
        receipts = writer.receive_batch(
            [inbound([newer], key="e1"), inbound([older], key="e2"),
             inbound([order(2, customer=1)], key="e3"), inbound([order(3)], key="e1"),
             inbound([], error=PayloadError("bad total", field="total"))])
        assert [r and r.outcome for r in receipts] == \
            ["applied", "stale", "applied", None, "rejected"]
        again = writer.receive_batch([inbound([order(3)], key="e1"),
                                      inbound([order(3)], key="e4")])
        assert [r and r.outcome for r in again] == ["duplicate", "applied"]
    with runtime.sessions() as session:
        stored = session.exec(select(Order).where(Order.external_id == "O-1")).one()
        assert stored.total == Decimal("20")
        assert len(session.exec(select(Customer)).all()) == 1
        events = session.exec(select(InboundEvent).order_by(col(InboundEvent.id))).all()
        assert [(e.dedupe_key, e.outcome) for e in events] == [
            ("e1", "applied"), ("e2", "stale"), ("e3", "applied"), (None, "rejected"),
            ("e4", "applied")]
        assert {r.event_id for r in receipts if r is not None} == \
            {e.id for e in events[:4]}


def test_a_batch_failing_in_the_pipeline_leaves_nothing_and_the_connection_usable(
        runtime: Runtime) -> None:
    # The refused order fails in the last round trip, the one carrying COMMIT: the
    # events and customers sent before it are rolled back with it.
    refused = OrderIn.model_construct(external_id="O-BAD", currency=None, total=Decimal(1),
                                      status="confirmed")
    with Writer(runtime) as writer:
        with pytest.raises(sa.exc.IntegrityError if writer.held is None
                           else psycopg.IntegrityError):
            writer.receive_batch([inbound([order(1, customer=1)], key="k1"),
                                  inbound([refused], key="k-bad")])
        [receipt] = writer.receive_batch([inbound([order(2, customer=2)], key="k2")])
        assert receipt is not None and receipt.outcome == "applied"
    with runtime.sessions() as session:
        assert [o.external_id for o in session.exec(select(Order))] == ["O-2"]
        assert [c.external_id for c in session.exec(select(Customer))] == ["C-2"]
        assert [e.dedupe_key for e in session.exec(select(InboundEvent))] == ["k2"]


def _drop_connections(runtime: Runtime) -> None:
    """What a server restart does to every connection of this database but one's own."""
    with runtime.engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    runtime.engine.dispose()


def test_a_writer_whose_connection_was_lost_applies_its_batch_alone_and_reconnects(
        runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL connection")
    # One writer throughout, on one event loop (it would end after idle_s without
    # requests, and each loop has writers of its own).
    committer = GroupCommitter(Ingestor(runtime.sessions, runtime.settings), max_records=100,
                               window=timedelta(milliseconds=50), idle_s=30)
    caplog.set_level(logging.WARNING, logger="notifier.ingest.group_commit")

    async def post(numbers: range) -> list[str]:
        answers = await asyncio.gather(*(committer.receive(inbound([order(n, customer=n)],
                                                                   key=f"k{n}"))
                                         for n in numbers))
        return [a.outcome for a in answers]

    def alone() -> int:
        return sum("applying each alone" in r.getMessage() for r in caplog.records)

    async def scenario() -> None:
        assert await post(range(0, 5)) == ["applied"] * 5
        await asyncio.to_thread(_drop_connections, runtime)
        assert await post(range(5, 10)) == ["applied"] * 5
        assert alone() >= 1  # the dead connection's batch, each request on a pool connection
        seen = alone()
        assert await post(range(10, 15)) == ["applied"] * 5
        assert alone() == seen  # the writer connected again

    asyncio.run(scenario())
    with runtime.sessions() as session:
        assert sorted(o.external_id for o in session.exec(select(Order))) == \
            sorted(f"O-{n}" for n in range(15))
        assert len(session.exec(select(InboundEvent)).all()) == 15
