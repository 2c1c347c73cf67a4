"""Audit log (owners only): who changed what and when, newest first; and the users."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from notifier.console.auth import Permission, list_users
from notifier.console.web import Console, Visitor
from notifier.store.audit import recent

PAGE = 100


def build(console: Console) -> APIRouter:
    router = APIRouter()

    def data(before: int | None) -> dict[str, Any]:
        with console.runtime.sessions() as session:
            entries = recent(session, limit=PAGE, before_id=before)
            return {"entries": entries, "users": list_users(session),
                    "next_id": entries[-1].id if len(entries) == PAGE else None}

    @router.get("/audit", response_class=HTMLResponse)
    async def audit_page(request: Request, before: int | None = None,
                         visitor: Visitor = Depends(console.page(Permission.AUDIT))
                         ) -> HTMLResponse:
        return console.render(request, visitor, "audit.html",
                              **await run_in_threadpool(data, before))

    return router
