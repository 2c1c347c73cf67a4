"""A column against a list on both backends: the same rows whether the list is bound when
the statement is built or when it runs, whatever its length, and the plan an index probe."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from notifier.store.db import create_db_engine
from notifier.store.lists import among, array_literal, in_list
from notifier.store.tables import Customer, Order

ORDERS: sa.Table = Order.__table__  # type: ignore[attr-defined]
CUSTOMERS: sa.Table = Customer.__table__  # type: ignore[attr-defined]
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.insert(CUSTOMERS), [
            {"id": i, "source": "t", "external_id": f"c{i}", "locale": "pl",
             "push_subscriptions": [], "created_at": NOW, "updated_at": NOW}
            for i in range(1, 4)])
        conn.execute(sa.insert(ORDERS), [
            {"id": i, "source": "t", "external_id": _key(i), "customer_id": 1 + i % 3,
             "status": "confirmed", "payment_status": "paid", "is_test": False,
             "currency": "PLN", "total": 1, "items": [], "discount_codes": [],
             "created_at": NOW, "updated_at": NOW,
             "next_check_at": NOW + timedelta(minutes=i) if i % 2 else None}
            for i in range(1, 301)])
    yield engine
    engine.dispose()


def _key(i: int) -> str:
    return f'o"{i}\\'  # a quote and a backslash: the array literal escapes both


@pytest.mark.parametrize("count", [0, 1, 7, 300])
def test_a_list_bound_now_or_when_run_matches_the_same_rows(engine: sa.Engine,
                                                             count: int) -> None:
    wanted = [_key(i) for i in range(0, 2 * count, 2)]  # o"0\ and beyond 300 are missing
    lookup = (sa.select(ORDERS.c.id).where(ORDERS.c.source == sa.bindparam("source"),
                                           in_list(ORDERS.c.external_id, "ids",
                                                   engine.dialect.name))
              .order_by(ORDERS.c.id).with_for_update())
    with engine.begin() as conn:
        now = conn.execute(sa.select(ORDERS.c.id).where(among(conn, ORDERS.c.external_id,
                                                              wanted)).order_by(ORDERS.c.id))
        assert now.scalars().all() == [i for i in range(2, min(2 * count, 301), 2)]
        # One statement, run with lists of other lengths.
        for ids in (wanted, wanted[:2], []):
            got = conn.execute(lookup, {"source": "t", "ids": ids}).scalars().all()
            assert got == sorted(int(k[2:-1]) for k in ids if 0 < int(k[2:-1]) <= 300)


def test_integers_nulls_and_moments(engine: sa.Engine) -> None:
    moments = [NOW + timedelta(minutes=i) for i in (1, 3, 4)]
    with engine.begin() as conn:
        assert conn.execute(sa.select(ORDERS.c.id).where(
            among(conn, ORDERS.c.id, {3, 5, 99999})).order_by(ORDERS.c.id)
        ).scalars().all() == [3, 5]
        assert conn.execute(sa.select(ORDERS.c.id).where(
            among(conn, ORDERS.c.customer_id, [2, None]))).scalars().all() == list(range(1, 301, 3))
        if conn.dialect.name == "postgresql":  # SQLite's JSON list has no datetimes
            assert conn.execute(sa.select(ORDERS.c.id).where(
                among(conn, ORDERS.c.next_check_at, moments)).order_by(ORDERS.c.id)
            ).scalars().all() == [1, 3]


def test_a_value_with_no_array_literal_is_refused_when_run(engine: sa.Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's list is JSON: what JSON holds")
    with engine.begin() as conn, pytest.raises(sa.exc.StatementError, match="only integers"):
        conn.execute(sa.select(ORDERS.c.id).where(among(conn, ORDERS.c.total, [1.5])))


def test_array_literals_quote_what_the_server_reads_back() -> None:
    assert array_literal([1, 2, 3], moments=False) == "{1,2,3}"
    assert array_literal([1, None, 'a"b\\'], moments=False) == '{1,NULL,"a\\"b\\\\"}'
    assert array_literal([NOW], moments=False) is None
    assert array_literal([NOW, None], moments=True) == '{"2026-12-02 12:00:00.000000",NULL}'


def test_look_ups_by_key_can_be_index_probes(engine: sa.Engine) -> None:
    """What ingest and detection read per batch (orders by (source, external_id), rows by
    id, orders by customer) can be planned as index probes: the list's cast keeps the
    column's type (on a table this small PostgreSQL would rather scan, so scans are made
    dear; docs/performance.md has the plans at 1M rows)."""
    dialect = engine.dialect.name
    statements = [
        sa.select(ORDERS.c.id).where(ORDERS.c.source == "t",
                                     in_list(ORDERS.c.external_id, "ids", dialect)),
        sa.select(CUSTOMERS.c.id).where(in_list(CUSTOMERS.c.id, "ids", dialect)),
        sa.select(ORDERS.c.id).where(in_list(ORDERS.c.customer_id, "ids", dialect)),
    ]
    params = [{"ids": [_key(2), _key(4)]}, {"ids": [1, 2]}, {"ids": [1, 2]}]
    with engine.begin() as conn:
        for stmt, values in zip(statements, params, strict=True):
            compiled = stmt.compile(conn, compile_kwargs={})
            sql = str(compiled)
            bound = compiled.construct_params(values)
            processed = {k: compiled.binds[k].type.bind_processor(conn.dialect)(v)  # type: ignore[misc]
                         if compiled.binds[k].type.bind_processor(conn.dialect) else v
                         for k, v in bound.items()}
            if dialect == "postgresql":
                conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a 300-row table
                plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN {sql}", processed).scalars())
                assert "Seq Scan" not in plan, plan
                assert "Index" in plan, plan
            else:
                plan = "\n".join(r[-1] for r in conn.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {sql}", tuple(processed[k] for k in compiled.positiontup)))
                assert "SCAN orders" not in plan and "SCAN customers" not in plan, plan
                assert "USING" in plan, plan
