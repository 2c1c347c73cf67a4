"""HTTP endpoints of the ingest stage: verify -> parse -> idempotent apply -> 2xx.

Requests are parsed on the event loop and applied in batches by one writer thread per
process (group_commit.py); each is answered after the commit that holds it.

Bad signature: 401 and nothing stored. Malformed body or a wrong field: 400/422 naming the
field, only the raw event stored. Unknown topic: acknowledged (200) and logged, so the
platform does not disable the webhook. Duplicate delivery: 200, nothing changes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from notifier.auth import api_key_dependency
from notifier.errors import PayloadError, SignatureError
from notifier.ingest.group_commit import GroupCommitter
from notifier.ingest.payloads import decode_json, validate
from notifier.ingest.records import AnyRecord, CartIn, CustomerIn, OrderIn, ShipmentIn
from notifier.ingest.service import Idempotency, Inbound, Ingestor, Receipt
from notifier.ingest.shopify import ShopifyAdapter
from notifier.ingest.woocommerce import WooCommerceAdapter
from notifier.runtime import Runtime

API_RECORDS: dict[str, type[BaseModel]] = {
    "customers": CustomerIn,
    "orders": OrderIn,
    "shipments": ShipmentIn,
    "carts": CartIn,
}


class Adapter(Protocol):
    source: str
    topics: frozenset[str]

    def verify(self, headers: dict[str, str], body: bytes) -> None: ...
    def topic(self, headers: dict[str, str]) -> str: ...
    def dedupe_key(self, headers: dict[str, str], topic: str) -> str | None: ...
    def parse(self, topic: str, payload: Any, *, now: Any) -> list[AnyRecord]: ...


def _answer(receipt: Receipt) -> JSONResponse:
    body: dict[str, Any] = {"outcome": receipt.outcome, "event_id": receipt.event_id}
    if receipt.error:
        body["detail"] = {"field": receipt.field, "error": receipt.error}
    headers = {"Idempotent-Replayed": "true"} if receipt.replayed else None
    return JSONResponse(body, status_code=receipt.http_status, headers=headers)


async def _receive_webhook(runtime: Runtime, committer: GroupCommitter, adapter: Adapter,
                           request: Request) -> JSONResponse:
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        adapter.verify(headers, body)
    except SignatureError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=401)
    topic = adapter.topic(headers)
    if topic not in adapter.topics:
        return JSONResponse({"outcome": "ignored", "detail": f"topic {topic!r} not used"})
    now = runtime.clock()

    def parse() -> list[AnyRecord]:
        return adapter.parse(topic, decode_json(body), now=now)

    # Parsed here, on the event loop, as a bare route would: the writer thread only writes.
    receipt = await committer.receive(Inbound.parsed(
        source=adapter.source, topic=topic, dedupe_key=adapter.dedupe_key(headers, topic),
        body=body, parse=parse, now=now))
    runtime.metrics.event(adapter.source, topic, receipt.outcome)
    return _answer(receipt)


def build_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()
    settings = runtime.settings
    # Two writers on PostgreSQL: one batch applied while the other waits for the server
    # (see group_commit.py); SQLite writes one transaction at a time anyway.
    committer = GroupCommitter(Ingestor(runtime.sessions, settings),
                               max_records=settings.api.batch_max_records,
                               window=timedelta(milliseconds=settings.api.batch_window_ms),
                               on_batch=runtime.metrics.ingest_batch,
                               writers=2 if runtime.engine.dialect.name == "postgresql" else 1)
    region = settings.shop.country
    require_key = api_key_dependency(settings)

    @router.post("/webhooks/shopify", tags=["webhooks"], openapi_extra=_webhook_body(
        "Shopify's REST Admin resource of the X-Shopify-Topic, signed in X-Shopify-Hmac-Sha256"))
    async def shopify(request: Request) -> JSONResponse:
        secrets = [settings.shopify.webhook_secret.get_secret_value(),
                   settings.shopify.previous_webhook_secret.get_secret_value()]
        adapter = ShopifyAdapter(secrets, region=region)
        return await _receive_webhook(runtime, committer, adapter, request)

    @router.post("/webhooks/woocommerce", tags=["webhooks"], openapi_extra=_webhook_body(
        "WooCommerce's REST resource of the X-WC-Webhook-Topic, signed in "
        "X-WC-Webhook-Signature"))
    async def woocommerce(request: Request) -> JSONResponse:
        adapter = WooCommerceAdapter([settings.woocommerce.webhook_secret.get_secret_value()],
                                     region=region)
        body = await request.body()
        if adapter.is_ping(body) and "x-wc-webhook-topic" not in request.headers:
            return JSONResponse({"outcome": "ping"})
        return await _receive_webhook(runtime, committer, adapter, request)

    for kind, model in API_RECORDS.items():
        router.add_api_route(
            f"/v1/{kind}",
            _api_endpoint(runtime, committer, kind, model),
            methods=["POST"],
            tags=["api"],
            dependencies=[Depends(require_key)],
            summary=f"Create or update {kind} (upsert by external_id)",
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            }}},
        )
    return router


def _webhook_body(description: str) -> dict[str, Any]:
    """The OpenAPI request body of a platform webhook: the platform's JSON, not ours."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object", "description": description}}}}}


def _api_endpoint(runtime: Runtime, committer: GroupCommitter, kind: str,
                  model: type[BaseModel]):  # type: ignore[no-untyped-def]
    region = runtime.settings.shop.country

    async def endpoint(request: Request) -> JSONResponse:
        body = await request.body()
        now = runtime.clock()
        key = request.headers.get("idempotency-key")

        def parse() -> list[AnyRecord]:
            payload = decode_json(body)
            if isinstance(payload, list):
                raise PayloadError("send one record per request", field="body")
            return [validate(model, payload, context={"region": region})]  # type: ignore[list-item]

        scoped = None
        if key:
            bearer = request.headers.get("authorization", "").partition(" ")[2]
            scoped = Idempotency.of(api_key=bearer.strip(), endpoint=f"/v1/{kind}", key=key,
                                    ttl=runtime.settings.api.idempotency_key_ttl)
        receipt = await committer.receive(Inbound.parsed(
            source=request.headers.get("x-notifier-source", "api"), topic=kind,
            dedupe_key=None, body=body, parse=parse, now=now, idempotency_key=scoped))
        runtime.metrics.event(request.headers.get("x-notifier-source", "api"), kind,
                              receipt.outcome)
        return _answer(receipt)

    endpoint.__name__ = f"upsert_{kind}"
    return endpoint


def api_schemas() -> dict[str, Any]:
    """JSON schemas of the API records, for the OpenAPI document's components."""
    from pydantic.json_schema import models_json_schema

    _, top = models_json_schema(
        [(m, "validation") for m in API_RECORDS.values()],
        ref_template="#/components/schemas/{model}",
    )
    return top.get("$defs", {})
