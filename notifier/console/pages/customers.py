"""Customers: search by e-mail, phone, name or order number; a customer's timeline; the
JSON export; erasure behind a confirmation step (the same functions as
``notifier customers export/erase``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from notifier.console.auth import Permission
from notifier.console.web import BASE, Console, Visitor
from notifier.privacy import (
    ErasureError,
    erase_customer,
    export_audited,
    identity,
    search,
    timeline,
)
from notifier.store.db import transaction
from notifier.store.tables import Customer


def build(console: Console) -> APIRouter:
    router = APIRouter()
    region = console.runtime.settings.shop.country

    def find(q: str) -> list[Customer]:
        with console.runtime.sessions() as session:
            return search(session, q, region=region)

    @router.get("/customers", response_class=HTMLResponse)
    async def customers(request: Request, q: str = "",
                        visitor: Visitor = Depends(console.page())) -> HTMLResponse:
        found = await run_in_threadpool(find, q) if q.strip() else []
        partial = request.headers.get("hx-request") == "true"
        return console.render(request, visitor,
                              "_customers_results.html" if partial else "customers.html",
                              q=q, found=found)

    def story(customer_id: int) -> dict[str, Any] | None:
        with console.runtime.sessions() as session:
            customer = session.get(Customer, customer_id)
            if customer is None:
                return None
            return {"customer": customer, "who": identity(session, customer_id),
                    "entries": timeline(session, customer_id)}

    @router.get("/customers/{customer_id}", response_class=HTMLResponse)
    async def customer(customer_id: int, request: Request,
                       visitor: Visitor = Depends(console.page())) -> HTMLResponse:
        data = await run_in_threadpool(story, customer_id)
        if data is None:
            raise HTTPException(404, "notfound")
        return console.render(request, visitor, "customer.html", **data)

    @router.post("/customers/{customer_id}/export")
    async def export(customer_id: int,
                     visitor: Visitor = Depends(console.action(Permission.CUSTOMERS))
                     ) -> Response:
        def take() -> dict[str, Any] | None:
            with transaction(console.runtime.sessions) as session:
                return export_audited(session, customer_id, now=console.now(),
                                      actor=visitor.user.email if visitor.user else "?")

        data = await run_in_threadpool(take)
        if data is None:
            raise HTTPException(404, "notfound")
        body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
        return Response(body, media_type="application/json", headers={
            "Content-Disposition": f'attachment; filename="customer-{customer_id}.json"'})

    @router.get("/customers/{customer_id}/erase", response_class=HTMLResponse)
    async def erase_form(customer_id: int, request: Request,
                         visitor: Visitor = Depends(console.page(Permission.CUSTOMERS))
                         ) -> HTMLResponse:
        data = await run_in_threadpool(story, customer_id)
        if data is None:
            raise HTTPException(404, "notfound")
        return console.render(request, visitor, "erase.html", error=None, **data)

    @router.post("/customers/{customer_id}/erase", response_class=HTMLResponse)
    async def erase(customer_id: int, request: Request,
                    confirm: Annotated[str, Form()] = "",
                    visitor: Visitor = Depends(console.action(Permission.CUSTOMERS))
                    ) -> Response:
        settings = console.runtime.settings

        def run() -> None:
            erase_customer(console.runtime.sessions, customer_id=customer_id,
                           actor=visitor.user.email if visitor.user else "?",
                           now=console.now(), data_dir=settings.paths.data_dir,
                           confirm=confirm)

        try:
            await run_in_threadpool(run)
        except ErasureError as exc:
            data = await run_in_threadpool(story, customer_id)
            if data is None:
                raise HTTPException(404, "notfound") from exc
            return console.render(request, visitor, "erase.html", status_code=400,
                                  error=str(exc), **data)
        return console.redirect(f"{BASE}/customers/{customer_id}?erased=1")

    return router
