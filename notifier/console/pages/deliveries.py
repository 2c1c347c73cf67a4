"""Deliveries: every notification, filterable and paged newest first; each opens its
trace (decision and reason, attempts, receipts, clicks, conversion, rating, the message
as sent)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from notifier.console.pages.rules import current_rules
from notifier.console.web import Console, Visitor
from notifier.domain import Channel
from notifier.store.tables import Customer, Notification
from notifier.track.activity import DeliveryFilter, Period, list_deliveries
from notifier.track.explain import describe
from notifier.track.sent_copy import sent_copy

STATUSES = ("pending", "sending", "sent", "delivered", "undelivered", "failed", "skipped",
            "held_out", "dry_run")
PAGE = 50


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def build(console: Console) -> APIRouter:
    router = APIRouter()

    def page_data(query: dict[str, str]) -> dict[str, Any]:
        first, last = _day(query.get("from")), _day(query.get("to"))
        start = end = None
        if first or last:
            period = Period.choose("custom", now=console.now(), tz=console.tz,
                                   first=first or last, last=last or first)
            start, end = period.start, period.end
        where = DeliveryFilter(rule=query.get("rule") or None,
                               status=query.get("status") or None,
                               channel=query.get("channel") or None,
                               customer_id=_int(query.get("customer")), start=start, end=end)
        with console.runtime.sessions() as session:
            rows, next_id = list_deliveries(session, where=where,
                                            before_id=_int(query.get("before")), limit=PAGE)
        # The loaded rules name the filter's choices: DISTINCT over a million rows is a
        # full index scan on PostgreSQL (no skip scan), 0.4 s at 1M.
        rules = sorted(r.name for r in current_rules(console))
        filters = {k: v for k, v in query.items()
                   if k in ("rule", "status", "channel", "customer", "from", "to") and v}
        return {"rows": rows, "next_id": next_id, "filters": filters, "rules": rules,
                "statuses": STATUSES, "channels": [c.value for c in Channel]}

    @router.get("/deliveries", response_class=HTMLResponse)
    async def deliveries(request: Request, visitor: Visitor = Depends(console.page())
                         ) -> HTMLResponse:
        data = await run_in_threadpool(page_data, dict(request.query_params))
        partial = request.headers.get("hx-request") == "true"
        return console.render(request, visitor,
                              "_deliveries_table.html" if partial else "deliveries.html",
                              **data)

    def trace(notification_id: int) -> dict[str, Any] | None:
        with console.runtime.sessions() as session:
            data = describe(session, notification_id)
            if data is None:
                return None
            n = session.get(Notification, notification_id)
            assert n is not None
            customer = session.get(Customer, n.customer_id) if n.customer_id else None
        return {"n": n, "data": data, "customer": customer, "receipts": data["receipts"],
                "clicks": data["link_clicks"],
                "copy": sent_copy(console.runtime.settings, n)}

    @router.get("/deliveries/{notification_id}", response_class=HTMLResponse)
    async def delivery(notification_id: int, request: Request,
                       visitor: Visitor = Depends(console.page())) -> HTMLResponse:
        data = await run_in_threadpool(trace, notification_id)
        if data is None:
            raise HTTPException(404, "notfound")
        return console.render(request, visitor, "delivery.html", **data)

    return router
