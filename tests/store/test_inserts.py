"""SQLite statements over many rows: every row inserted once, in as few statement sizes as
fit the variable limit, defaults filled and values converted as SQLAlchemy's own insert
would, whether rows come as mappings or as tuples of columns."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from notifier.store import inserts
from notifier.store.db import create_db_engine
from notifier.store.tables import Customer, Notification

CUSTOMERS: sa.Table = Customer.__table__  # type: ignore[attr-defined]
N: sa.Table = Notification.__table__  # type: ignore[attr-defined]
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
COLUMNS = ("rule", "entity_kind", "entity_id", "customer_id", "purpose", "channels",
           "detected_at", "due_at", "step", "template", "status", "key")


@pytest.fixture
def engine(sqlite_template: Path, tmp_path: Path) -> Iterator[sa.Engine]:
    path = tmp_path / "notifier.db"
    shutil.copy(sqlite_template, path)
    engine = create_db_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(sa.insert(CUSTOMERS), [
            {"id": 1, "source": "t", "external_id": "c1", "locale": "pl",
             "push_subscriptions": [], "created_at": NOW, "updated_at": NOW}])
    yield engine
    engine.dispose()


def claim(i: int) -> tuple[object, ...]:
    return ("r", "order", i, 1, "service", ["email", "sms"], NOW + timedelta(seconds=i % 3),
            NOW, 0, "t", "pending", f"r:0:order:{i}")


@pytest.mark.parametrize("count", [0, 1, 255, 256, 500, 513, 4096])
def test_inserts_cover_every_row_in_few_statement_sizes(count: int) -> None:
    sizes = inserts.chunks(count, limit=32766 // 18)
    assert sum(sizes) == count
    assert all(s in {1 << k for k in range(9)} for s in sizes)
    assert inserts.chunks(count, limit=3) == [2] * (count // 2) + [1] * (count % 2)


def test_rows_as_tuples_are_inserted_once_under_the_variable_limit(engine: sa.Engine) -> None:
    stmt = sqlite.insert(N).on_conflict_do_nothing(index_elements=["key"])
    plan = inserts.compiled(stmt, COLUMNS)
    assert inserts.compiled(stmt, COLUMNS) is plan  # compiled once
    with engine.begin() as conn:
        conn.connection.dbapi_connection.setlimit(  # type: ignore[union-attr]
            sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 5 * len(plan.names))
        params = inserts.by_columns(plan, COLUMNS, [claim(i) for i in range(23)])
        counts = [r.rowcount for r in inserts.insert_rows(conn, plan, params)]
        assert counts == [4, 4, 4, 4, 4, 2, 1]
        again = inserts.by_columns(plan, COLUMNS, [claim(i) for i in range(20, 30)])
        assert sum(r.rowcount for r in inserts.insert_rows(conn, plan, again)) == 7
        rows = conn.execute(sa.select(N).order_by(N.c.entity_id)).all()
    assert [r.entity_id for r in rows] == list(range(30))
    # Python-side defaults filled, values converted as SQLAlchemy binds them.
    assert {(r.kind, r.attempts, r.clicks, r.converted_after_click, tuple(r.channels))
            for r in rows} == {("message", 0, 0, False, ("email", "sms"))}
    assert [r.detected_at for r in rows[:3]] == [NOW + timedelta(seconds=i) for i in range(3)]


def test_rows_as_mappings_return_their_rows_and_match_sqlalchemy(engine: sa.Engine) -> None:
    stmt = sqlite.insert(N).returning(N.c.id, N.c.key)
    rows = [dict(zip(COLUMNS, claim(i), strict=True)) for i in range(300)]
    plan = inserts.compiled(stmt, COLUMNS)
    with engine.begin() as conn:
        returned = [r for result in inserts.insert_rows(conn, plan, inserts.by_rows(plan, rows))
                    for r in result.all()]
        assert sorted(r.id for r in returned) == list(range(1, 301))
        ours = conn.exec_driver_sql("SELECT * FROM notifications ORDER BY id").all()
        conn.execute(sa.delete(N))
        conn.execute(sa.insert(N), rows)
        theirs = conn.exec_driver_sql("SELECT * FROM notifications ORDER BY id").all()
    assert [r[1:] for r in ours] == [r[1:] for r in theirs]  # byte for byte but the id
    assert inserts.by_columns(plan, COLUMNS, [claim(i) for i in range(300)]) \
        == inserts.by_rows(plan, rows)


def test_updates_by_id_go_through_the_driver(engine: sa.Engine) -> None:
    stmt = sa.update(CUSTOMERS).where(CUSTOMERS.c.id == sa.bindparam("row_id"))
    plan = inserts.compiled(stmt, ("row_id", "first_name", "updated_at"))
    later = NOW + timedelta(days=1)
    with engine.begin() as conn:
        inserts.execute_many(conn, plan, inserts.by_rows(
            plan, [{"row_id": 1, "first_name": "Ala", "updated_at": later}]))
        row = conn.execute(sa.select(CUSTOMERS.c.first_name, CUSTOMERS.c.updated_at)).one()
    assert tuple(row) == ("Ala", later)
    with engine.connect() as conn, pytest.raises(NotImplementedError, match="not an insert"):
        next(inserts.insert_rows(conn, plan, []))


def test_an_in_list_is_written_out_for_the_driver(engine: sa.Engine) -> None:
    stmt = (sa.update(CUSTOMERS)
            .where(CUSTOMERS.c.id.in_(sa.bindparam("ids", expanding=True)))
            .values(updated_at=sa.bindparam("at")).returning(CUSTOMERS.c.id))
    plan = inserts.compiled(stmt, ("ids", "at"))
    later = NOW + timedelta(days=1)
    [params] = inserts.by_rows(plan, [{"ids": [1, 2, 3], "at": later}])
    sql, flat = inserts.expanded(plan, params, "ids")
    assert "IN (?, ?, ?)" in sql and flat == ("2026-12-03 12:00:00.000000", 1, 2, 3)
    with engine.begin() as conn:
        assert conn.exec_driver_sql(sql, flat).all() == [(1,)]
        assert conn.execute(sa.select(CUSTOMERS.c.updated_at)).scalar_one() == later
