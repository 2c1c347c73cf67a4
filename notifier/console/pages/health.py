"""Health: database, outbox due and its oldest, failures in the last hour, worker leases,
connectors, webhooks received per source with rejections (raw event and error)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from notifier.console.web import Console, Visitor
from notifier.health import HealthReport, health_report


def build(console: Console) -> APIRouter:
    router = APIRouter()

    def report() -> HealthReport:
        with console.runtime.sessions() as session:
            return health_report(session, console.runtime.settings, now=console.now())

    @router.get("/health", response_class=HTMLResponse)
    async def health(request: Request, visitor: Visitor = Depends(console.page())
                     ) -> HTMLResponse:
        return console.render(request, visitor, "health.html",
                              report=await run_in_threadpool(report), now=console.now())

    return router
