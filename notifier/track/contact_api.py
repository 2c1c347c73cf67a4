"""``POST /v1/contacts``: a helpdesk tells us a customer contacted support.

Without ``?source=`` the body is :class:`~notifier.track.contacts.ContactIn`; with
``?source=<name>`` it is that helpdesk's own JSON, read through
``[track.contacts.<name>]``. 201 for a new contact, 200 for one already recorded, 422
naming the field that is missing or wrong.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from notifier.auth import api_key_dependency
from notifier.runtime import Runtime
from notifier.store.db import transaction
from notifier.track.contacts import ContactIn, MappingError, from_mapping, record_contact


def build_contact_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(tags=["contacts"])
    settings = runtime.settings
    require_key = api_key_dependency(settings)

    @router.post("/v1/contacts", dependencies=[Depends(require_key)],
                 openapi_extra={"requestBody": {"content": {"application/json": {
                     "schema": ContactIn.model_json_schema()}}}})
    async def contacts(request: Request, source: str | None = None) -> JSONResponse:
        try:
            body: Any = await request.json()
        except ValueError as exc:
            raise HTTPException(400, {"field": "body", "error": f"body is not JSON: {exc}"}) \
                from exc
        try:
            if source is None:
                contact, name = ContactIn.model_validate(body), "api"
            else:
                mapping = settings.track.contacts.get(source)
                if mapping is None:
                    raise HTTPException(404, f"source {source!r}: no [track.contacts.{source}]")
                contact, name = from_mapping(body, mapping), source
        except MappingError as exc:
            raise HTTPException(422, {"field": exc.field, "error": str(exc)}) from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise HTTPException(422, {"field": field, "error": first["msg"]}) from exc

        def store() -> tuple[bool, int | None, int | None]:
            with transaction(runtime.sessions) as session:
                return record_contact(session, contact, source=name, now=runtime.clock())

        created, customer_id, order_id = await run_in_threadpool(store)
        return JSONResponse({"source": name, "id": contact.id, "recorded": created,
                             "customer_id": customer_id, "order_id": order_id,
                             "topic": contact.topic}, status_code=201 if created else 200)

    return router
