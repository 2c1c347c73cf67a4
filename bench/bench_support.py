"""What every benchmark needs: a fresh migrated database on either backend, a free port.

Scripts in this folder import it as a sibling module (they run as ``python bench/x.py``).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from notifier.store.db import create_db_engine
from notifier.store.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def migrated_database(backend: str, workdir: Path) -> Iterator[str]:
    """The URL of a new, migrated database (``sqlite`` file in ``workdir`` or a
    ``postgresql`` database on the local server), dropped afterwards."""
    if backend == "sqlite":
        url = f"sqlite:///{workdir}/bench.db"
        _migrate(url)
        yield url
        return
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"notifier_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        _migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _migrate(url: str) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
