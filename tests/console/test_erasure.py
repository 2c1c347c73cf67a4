"""Erasure leaves the person in neither a dump of the database nor any file under var/,
while every count a report shows for the period stays the same; the export holds
everything before."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import SQLModel, select

from notifier.clock import FrozenClock
from notifier.config import Settings
from notifier.privacy import erase_customer, export_customer
from notifier.runtime import Runtime
from notifier.store.tables import Customer
from notifier.track.activity import Period, daily_counts, funnels
from tests.conftest import make_settings
from tests.console.seed import JAN, ZOFIA, shop_history


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """As shipped: a SQLite database lives under var/, so its file is searched too."""
    if db_url.startswith("sqlite:///"):
        inside = tmp_path / "var" / "notifier.db"
        inside.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(db_url.removeprefix("sqlite:///"), inside)
        db_url = f"sqlite:///{inside}"
    return make_settings(tmp_path, database={"url": db_url})


NEEDLES = (ZOFIA["email"], ZOFIA["phone"], "601234567", "Przybyszewska",
           f"{ZOFIA['first_name']} {ZOFIA['last_name']}")


def dump(runtime: Runtime) -> str:
    """Every row of every table as text (what a backup would hold)."""
    lines = []
    with runtime.engine.connect() as conn:
        if runtime.engine.dialect.name == "sqlite":
            return "\n".join(conn.connection.driver_connection.iterdump())
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                lines.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(lines)


def files_mentioning(root: Path, needles: tuple[str, ...]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            content = path.read_bytes().lower()
            hits += [f"{path.relative_to(root)}: {n}" for n in needles
                     if n.lower().encode() in content]
    return hits


def counts(runtime: Runtime) -> tuple[object, ...]:
    tz = __import__("zoneinfo").ZoneInfo("Europe/Warsaw")
    period = Period.choose("30d", now=datetime(2026, 12, 3, tzinfo=UTC), tz=tz)
    with runtime.sessions() as session:
        funnel = {k: (dict(v.statuses), v.clicked, v.converted, v.revenue)
                  for k, v in funnels(session, period=period).items()}
        return tuple(daily_counts(session, period=period)), funnel


def test_erasure_leaves_no_trace_and_keeps_counts(runtime: Runtime, clock: FrozenClock,
                                                 client: TestClient) -> None:
    shop_history(runtime, client, clock)
    data_dir = runtime.settings.paths.data_dir
    with runtime.sessions() as session:
        zofia = session.exec(select(Customer).where(Customer.email == ZOFIA["email"])).all()
        assert len(zofia) == 1 and zofia[0].id is not None
        zofia_id = zofia[0].id
        exported = export_customer(session, zofia_id)
    assert exported is not None
    tables = exported["tables"]
    assert {"customers", "orders", "carts", "notifications", "consents",
            "inbound_events"} <= set(tables)
    assert tables["notifications"], "the seed sent her messages"
    assert ZOFIA["email"] in json.dumps(exported)
    before = counts(runtime)
    # The person is everywhere before: database rows, raw payloads, outbox files.
    text = dump(runtime)
    assert all(n in text for n in NEEDLES[:2])
    if runtime.engine.dialect.name == "sqlite":
        assert (data_dir / "notifier.db").exists()
    assert files_mentioning(data_dir / "outbox", (ZOFIA["email"],))

    report = erase_customer(runtime.sessions, customer_id=zofia_id, actor="test",
                            now=clock(), data_dir=data_dir, confirm=ZOFIA["email"].upper())

    assert report.files_removed
    text = dump(runtime)
    for needle in NEEDLES:
        assert needle.lower() not in text.lower(), needle
    assert files_mentioning(data_dir, NEEDLES) == []
    assert counts(runtime) == before
    # Someone else's data is untouched.
    assert JAN["email"] in text and "Kowalski" in text
    assert files_mentioning(data_dir / "outbox", (JAN["email"],))
