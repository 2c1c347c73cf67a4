"""Two worker processes on one PostgreSQL, each with its own data directory (as on two
machines): they start together on one stored set, and after a publish both use the new
version from their next tick."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.authoring import live, publish, save_draft
from notifier.runtime import create_runtime
from notifier.store.db import transaction
from tests.conftest import (
    REPO,
    create_pg_database,
    drop_pg_database,
    make_settings,
    require_postgres,
)
from tests.engine.conftest import put

T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
DUE = datetime(2026, 12, 1, 22, 59, 59, tzinfo=UTC) + timedelta(hours=4)
SUBJECT = "order_unshipped/pl/email.subject.txt"


def order(number: str) -> dict[str, object]:
    return {"external_id": number, "currency": "PLN", "total": "249.00",
            "placed_at": T0.isoformat(), "payment_status": "paid", "status": "confirmed",
            "customer": {"external_id": f"c-{number}", "email": f"c{number}@example.pl",
                         "locale": "pl"}}


class Worker:
    def __init__(self, config: Path, owner: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.authoring.probe_worker", str(config),
             T0.isoformat(), owner], cwd=REPO, text=True, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=(cwd / f"{owner}.log").open("w"))

    def answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"worker exited with {self.proc.wait(timeout=30)}"
        return json.loads(line)

    def tick(self, moment: datetime) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(moment.isoformat() + "\n")
        self.proc.stdin.flush()
        return self.answer()

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def database() -> Iterator[str]:
    admin = require_postgres()
    db = create_pg_database(admin)
    yield db.url
    drop_pg_database(admin, db)
    admin.dispose()


def subjects(data_dir: Path) -> list[str]:
    return [line for eml in sorted((data_dir / "outbox" / "email").glob("*"))
            for line in eml.read_text(encoding="utf-8").splitlines()
            if line.startswith("Subject:")]


def test_two_workers_use_the_same_published_version_after_a_publish(
    database: str, tmp_path: Path
) -> None:
    configs = {}
    for name in ("a", "b"):
        configs[name] = tmp_path / f"{name}.toml"
        configs[name].write_text(
            f'[database]\nurl = "{database}"\n'
            f'[paths]\ndata_dir = "{tmp_path / name}"\nrules_dir = "{REPO / "rules"}"\n'
            f'templates_dir = "{REPO / "templates"}"\n', encoding="utf-8")
    # Both start at once on an empty database: one stores the shipped set, both use it.
    a, b = Worker(configs["a"], "a", tmp_path), Worker(configs["b"], "b", tmp_path)
    try:
        first_a, first_b = a.answer(), b.answer()
        assert first_a["templates"] == first_b["templates"] and first_a["templates"]
        assert first_a["rules"] == first_b["rules"] and first_a["rules"]

        settings = make_settings(tmp_path, database={"url": database})
        runtime = create_runtime(settings)
        put(runtime, "order", order("1001"), now=T0)
        with transaction(runtime.sessions) as session:
            shipped = live(session, "template", "order_unshipped")
            assert shipped is not None and shipped.id == first_a["templates"]["order_unshipped"]
            draft = save_draft(session, "template", "order_unshipped",
                               {**shipped.files, SUBJECT: "PUBLISHED-V2 {{ order.number }}"},
                               author="m@shop.pl", now=T0)
            assert publish(session, settings, "template", "order_unshipped", draft.id,
                           author="m@shop.pl", now=T0) == []

        after_a = a.tick(DUE)
        assert after_a["dispatched"] == {"sent": 1}
        put(runtime, "order", order("1002"), now=T0)
        after_b = b.tick(DUE + timedelta(minutes=1))
        assert after_b["dispatched"] == {"sent": 1}
        runtime.close()

        assert after_a["templates"] == after_b["templates"]
        assert after_a["templates"]["order_unshipped"] == draft.id
        assert after_a["templates_dir"] == after_b["templates_dir"] != first_a["templates_dir"]
        assert subjects(tmp_path / "a") == ["Subject: PUBLISHED-V2 1001"]
        assert subjects(tmp_path / "b") == ["Subject: PUBLISHED-V2 1002"]
    finally:
        a.stop()
        b.stop()
