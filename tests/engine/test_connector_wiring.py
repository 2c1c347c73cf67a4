"""BaseLinker wiring: the poll job is scheduled when enabled and /healthz reports it."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from notifier.app import create_app
from notifier.pipeline import build_engine
from notifier.runtime import create_runtime
from notifier.scheduler import create_scheduler
from tests.conftest import make_settings


async def test_poll_job_and_health_detail(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, database={"url": db_url},
                             baselinker={"enabled": True, "token": "bl-token",
                                         "api_url": "http://127.0.0.1:9/connector.php"})
    runtime = create_runtime(settings)
    engine = build_engine(runtime, channels={})
    try:
        scheduler = create_scheduler(engine)
        assert {job.id for job in scheduler.get_jobs()} == {
            "detect", "dispatch", "track", "baselinker", "transit-refit",
            "transit-first-fit"}
        health = TestClient(create_app(runtime)).get("/healthz").json()
        assert health["status"] == "ok"
        assert "healthy" in health["connectors"]["baselinker"]
    finally:
        await engine.aclose()
        runtime.close()

    plain = create_runtime(make_settings(tmp_path / "x", database={"url": db_url}))
    other = build_engine(plain, channels={})
    try:
        assert "baselinker" not in {job.id for job in create_scheduler(other).get_jobs()}
        assert "connectors" not in TestClient(create_app(plain)).get("/healthz").json()
    finally:
        await other.aclose()
        plain.close()
