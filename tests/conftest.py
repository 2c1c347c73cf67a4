"""Shared fixtures: settings built explicitly, real SQLite and real PostgreSQL databases.

Tests that take ``db`` run once per backend. PostgreSQL is the local server
(127.0.0.1:5432, user postgres); each test session creates its own database. When the
server is unreachable those tests skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from notifier.clock import FrozenClock
from notifier.config import Settings
from notifier.runtime import Runtime, create_runtime
from notifier.store.db import create_db_engine
from notifier.store.migrate import upgrade
from notifier.store.schema import tables as _tables  # noqa: F401  (every table)

PG_ADMIN_URL = os.environ.get(
    "NOTIFIER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings in tests are built explicitly, never read from the ambient environment."""
    for name in list(os.environ):
        if name.startswith("NOTIFIER_") and name != "NOTIFIER_TEST_PG_URL":
            monkeypatch.delenv(name)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "paths": {"data_dir": tmp_path / "var", "rules_dir": REPO / "rules",
                  "templates_dir": REPO / "templates"},
        "api": {"keys": ["test-key"]},
        "shopify": {"webhook_secret": "shpss_current", "previous_webhook_secret": "shpss_old"},
        "woocommerce": {"webhook_secret": "wc_secret"},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return Settings(**base)


def _pg_admin() -> Engine | None:
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError:
        engine.dispose()
        return None
    return engine


def require_postgres() -> Engine:
    admin = _pg_admin()
    if admin is None:
        message = f"PostgreSQL unreachable at {PG_ADMIN_URL}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: PostgreSQL tests must run)")
        pytest.skip(message)
    return admin


@dataclass
class PgDatabase:
    url: str
    name: str


def create_pg_database(admin: Engine, *, migrate: bool = True) -> PgDatabase:
    name = f"notifier_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    if migrate:
        engine = create_db_engine(url)
        upgrade(engine)
        engine.dispose()
    return PgDatabase(url, name)


def drop_pg_database(admin: Engine, db: PgDatabase) -> None:
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database() -> Iterator[PgDatabase]:
    admin = require_postgres()
    db = create_pg_database(admin)
    yield db
    drop_pg_database(admin, db)
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "notifier.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _truncate(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "notifier.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    pg: PgDatabase = request.getfixturevalue("pg_database")
    engine = sa.create_engine(pg.url)
    _truncate(engine)
    engine.dispose()
    yield pg.url


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, database={"url": db_url})


@pytest.fixture
def runtime(settings: Settings, clock: FrozenClock) -> Iterator[Runtime]:
    rt = create_runtime(settings, clock=clock)
    yield rt
    rt.close()
