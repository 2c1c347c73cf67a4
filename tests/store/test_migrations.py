"""The migrations and the models agree, and upgrading is idempotent, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from notifier.store.db import create_db_engine
from notifier.store.migrate import upgrade


def test_autogenerate_finds_no_difference(db_url: str) -> None:
    engine = create_db_engine(db_url)
    upgrade(engine)  # again: idempotent
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert diff == []
