"""Offers: each policy with issued, redeemed, cost and this month's budget; code pools
with what is left; the ledger of issued codes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from notifier.console.web import Console, Visitor
from notifier.offers.ledger import ledger, policy_summaries


def build(console: Console) -> APIRouter:
    router = APIRouter()

    def data(before: int | None) -> dict[str, Any]:
        settings = console.runtime.settings
        with console.runtime.sessions() as session:
            rows = ledger(session, limit=100, before_id=before)
            return {"policies": policy_summaries(session, settings, now=console.now()),
                    "ledger": rows, "next_id": rows[-1].id if len(rows) == 100 else None,
                    "currency": settings.shop.currency, "enabled": settings.offers.enabled}

    @router.get("/offers", response_class=HTMLResponse)
    async def offers(request: Request, before: int | None = None,
                     visitor: Visitor = Depends(console.page())) -> HTMLResponse:
        return console.render(request, visitor, "offers.html",
                              **await run_in_threadpool(data, before))

    return router
