"""The HTTP application: ``create_app(runtime)`` builds it; importing does nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response

from notifier import __version__
from notifier.console.app import build_console
from notifier.detect.rules import RuleSet
from notifier.ingest.push_routes import build_push_router
from notifier.ingest.routes import api_schemas, build_router
from notifier.metrics import CONTENT_TYPE
from notifier.reports.routes import build_reports_router
from notifier.runtime import Runtime
from notifier.scheduler import create_scheduler
from notifier.track.contact_api import build_contact_router
from notifier.track.redirect import build_redirect_router
from notifier.track.routes import build_track_router
from notifier.track.smsapi_routes import build_smsapi_router
from notifier.track.survey_pages import build_survey_router
from notifier.track.webhooks import build_webhook_router
from notifier.transit.routes import build_carriers_router

if TYPE_CHECKING:
    from notifier.pipeline import Engine


def create_app(runtime: Runtime, *, engine: Engine | None = None) -> FastAPI:
    """The HTTP app; with ``engine`` it also runs the scheduler (``notifier serve``)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if engine is None:
            yield
            return
        scheduler = create_scheduler(engine)
        scheduler.start()
        try:
            yield
        finally:
            scheduler.shutdown(wait=False)
            await engine.aclose()

    # max_body_size: bodies over the limit get 413, counted as they arrive, so a missing
    # or lying Content-Length does not get past it.
    app = FastAPI(title="notifier", version=__version__,
                  summary="Proactive customer notifications for e-commerce",
                  max_body_size=runtime.settings.server.max_body_bytes, lifespan=lifespan)
    app.state.runtime = runtime
    app.include_router(build_router(runtime))
    app.include_router(build_track_router(runtime, engine=engine))
    app.include_router(build_redirect_router(runtime))
    app.include_router(build_webhook_router(runtime))
    app.include_router(build_survey_router(runtime))
    app.include_router(build_contact_router(runtime))
    app.include_router(build_push_router(runtime))
    app.include_router(build_smsapi_router(runtime))
    app.include_router(build_reports_router(runtime, rules=_rules_of(runtime, engine)))
    app.include_router(build_carriers_router(runtime))

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus exposition (``notifier.metrics``): counters and database gauges."""
        body = await run_in_threadpool(runtime.metrics.exposition, runtime.sessions,
                                       runtime.clock())
        return Response(body, media_type=CONTENT_TYPE)
    # The web console: its own sub-app (sessions, CSRF, pages, vendored static files).
    app.mount("/console", build_console(runtime))

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> JSONResponse:
        """200 when the database answers; connector health is reported as detail (an
        unhealthy connector does not take the API down)."""
        ok, detail = await run_in_threadpool(_database_ok, runtime)
        body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "database": detail}
        if ok and runtime.settings.baselinker.enabled:
            body["connectors"] = {"baselinker": await run_in_threadpool(_baselinker, runtime)}
        return JSONResponse(body, status_code=200 if ok else 503)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                                 summary=app.summary)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(api_schemas())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _rules_of(runtime: Runtime, engine: Engine | None) -> Callable[[], RuleSet]:
    """The engine's live rules; an API-only process reads the published set per report."""
    if engine is not None:
        return engine.rules
    from notifier.reports.rules import current_rules

    return lambda: current_rules(runtime.settings, runtime.sessions)[0]


def _baselinker(runtime: Runtime) -> dict[str, Any]:
    from notifier.connectors.state import connector_health

    with runtime.sessions() as session:
        return connector_health(session, name="baselinker", enabled=True)


def _database_ok(runtime: Runtime) -> tuple[bool, str]:
    try:
        with runtime.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        return False, f"unreachable: {type(exc).__name__}"
    return True, "ok"
