"""Batches of ingest: statements per batch, order inside a batch, one bad record alone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

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


def statements(runtime: Runtime, items: list[Inbound]) -> int:
    seen: list[str] = []

    def count(*_args: Any) -> None:
        seen.append(_args[2])

    sa.event.listen(runtime.engine, "before_cursor_execute", count)
    try:
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
    committer = GroupCommitter(Ingestor(runtime.sessions, runtime.settings),
                               max_records=max_records, window=timedelta(milliseconds=50),
                               on_batch=sizes.append)

    async def post_all() -> list[Any]:
        return await asyncio.gather(*(committer.receive(inbound([order(n)], key=f"k{n}"))
                                      for n in range(7)))

    assert [a.outcome for a in asyncio.run(post_all())] == ["applied"] * 7
    assert sum(sizes) == 7 and max(sizes) <= max_records and len(sizes) >= 7 / max_records


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
    assert [a.outcome for a in answers] == ["applied"] * 30 + ["duplicate"] * 6
    with runtime.sessions() as session:
        assert sorted(o.external_id for o in session.exec(select(Order))) == \
            sorted(f"O-{n}" for n in range(30))
        assert len(session.exec(select(Customer)).all()) == 5
        assert len(session.exec(select(Consent)).all()) == 5
        assert len(session.exec(select(InboundEvent)).all()) == 30
