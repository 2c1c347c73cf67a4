"""Several worker processes on one PostgreSQL: every notification exists and is sent once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import func, select

from notifier.runtime import Runtime, create_runtime
from notifier.store.tables import DeliveryAttempt, Notification
from tests.conftest import (
    REPO,
    PgDatabase,
    create_pg_database,
    drop_pg_database,
    make_settings,
    require_postgres,
)
from tests.engine.conftest import put

pytestmark = pytest.mark.slow

ORDERS = 300
T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
DUE = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[tuple[PgDatabase, Path]]:
    admin = require_postgres()
    db = create_pg_database(admin)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "{db.url}"\n'
        f'[paths]\ndata_dir = "{tmp_path / "var"}"\nrules_dir = "{REPO / "rules"}"\n'
        f'templates_dir = "{REPO / "templates"}"\n'
        "[delivery]\nbatch_size = 20\n", encoding="utf-8")
    yield db, config
    drop_pg_database(admin, db)
    admin.dispose()


def _seed(runtime: Runtime) -> None:
    for i in range(ORDERS):
        put(runtime, "order", {
            "external_id": f"o{i}", "currency": "PLN", "total": "100", "payment_status": "paid",
            "placed_at": T0.isoformat(),
            "customer": {"external_id": f"c{i}", "email": f"c{i}@example.pl", "locale": "pl"},
        }, now=T0)


def test_concurrent_workers_create_and_send_each_notification_once(
    pg: tuple[PgDatabase, Path], tmp_path: Path
) -> None:
    db, config = pg
    runtime = create_runtime(make_settings(tmp_path, database={"url": db.url}))
    _seed(runtime)

    def worker(moment: datetime) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "notifier.cli", "--config", str(config), "tick", "--now",
             moment.isoformat()], cwd=tmp_path, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    # Three processes tick the same moment at once, then two more a minute later.
    for round_at in (DUE, DUE + timedelta(minutes=1)):
        procs = [worker(round_at) for _ in range(3)]
        for proc in procs:
            out, _ = proc.communicate(timeout=240)
            assert proc.returncode == 0, out

    with runtime.sessions() as session:
        rows = session.exec(select(Notification)).all()
        attempts = session.exec(select(func.count()).select_from(DeliveryAttempt)).one()
    runtime.close()
    assert len(rows) == ORDERS
    assert len({r.key for r in rows}) == ORDERS
    assert {r.status for r in rows} == {"sent"}
    assert attempts == ORDERS
    files = list((tmp_path / "var" / "outbox" / "email").glob("*.eml"))
    assert len(files) == ORDERS
