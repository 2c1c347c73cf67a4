"""Storefront push capture: the two scripts a shop includes and the subscription API.

- ``GET /push/subscribe.js`` and ``GET /push/sw.js``: plain scripts (no build step) with
  our public URL, the VAPID public key and the publishable key filled in.
- ``POST /push/subscriptions``: store a browser's subscription for the customer a signed
  customer token names, or anonymously under a cart token; with ``replaces`` it takes an
  old subscription's place (``pushsubscriptionchange``).
- ``DELETE /push/subscriptions``: forget one (the subscription's ``auth`` proves it is
  the browser's own).

Every request must come from one of ``push.capture.allowed_origins`` (CORS preflight and
the ``Origin`` header both checked), carry the publishable key, and stay under the
per-address rate limit. Anything refused stores nothing and answers 4xx naming the field.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import deque
from datetime import datetime
from importlib.resources import files
from typing import TypeVar
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from notifier.deliver.vapid import application_server_key, load_vapid_private_key
from notifier.ingest import push_subscriptions as subs
from notifier.ingest.customer_tokens import BadCustomerToken, verify_customer_token
from notifier.runtime import Runtime

PATH = "/push/subscriptions"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class _Keys(BaseModel):
    p256dh: str = Field(min_length=1, max_length=128)
    auth: str = Field(min_length=1, max_length=64)


class SubscriptionJson(BaseModel):
    """``PushSubscription.toJSON()`` as browsers produce it."""

    endpoint: str = Field(min_length=1, max_length=2048)
    expiration_time: float | None = Field(default=None, alias="expirationTime")
    keys: _Keys


class _Old(BaseModel):
    endpoint: str = Field(min_length=1, max_length=2048)
    auth: str = Field(min_length=1, max_length=64)


class _Keyed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    publishable_key: str = ""


class SubscribeIn(_Keyed):
    subscription: SubscriptionJson
    customer_token: str | None = Field(default=None, max_length=512)
    cart_token: str | None = Field(default=None, max_length=128)
    marketing: bool = False
    replaces: _Old | None = None


class UnsubscribeIn(_Keyed):
    endpoint: str = Field(min_length=1, max_length=2048)
    auth: str = Field(min_length=1, max_length=64)


K = TypeVar("K", bound=_Keyed)


class Refused(Exception):
    """A request we answer 4xx without storing anything; ``field`` names what is wrong."""

    def __init__(self, status: int, field: str, error: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.field, self.error, self.headers = status, field, error, headers or {}


class RateLimit:
    """At most ``per_minute`` requests per client address in any 60 s (per process)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.seen: dict[str, deque[float]] = {}

    def retry_after(self, client: str, now: datetime) -> int | None:
        t = now.timestamp()
        window = self.seen.setdefault(client, deque())
        while window and window[0] <= t - 60:
            window.popleft()
        if len(window) >= self.per_minute:
            return int(window[0] + 60 - t) + 1
        window.append(t)
        if len(self.seen) > 10_000:  # forget idle addresses so memory stays bounded
            for key in [k for k, w in self.seen.items() if not w or w[-1] <= t - 60]:
                del self.seen[key]
        return None


def build_push_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(tags=["push"])
    settings = runtime.settings
    capture = settings.push.capture
    allowed = set(capture.allowed_origins)
    limit = RateLimit(capture.rate_limit_per_minute)
    scripts = _Scripts(runtime) if capture.enabled else None

    def cors(origin: str) -> dict[str, str]:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def refusal(exc: Refused, origin: str) -> JSONResponse:
        extra = cors(origin) if origin in allowed else {"Vary": "Origin"}
        return JSONResponse({"detail": {"field": exc.field, "error": exc.error}},
                            status_code=exc.status, headers={**extra, **exc.headers})

    async def gate(request: Request, model: type[K]) -> K:
        """Origin, rate and publishable key checked, the body parsed; or :class:`Refused`."""
        origin = request.headers.get("origin", "")
        if not capture.enabled:
            raise Refused(404, "push.capture.enabled", "push capture is not enabled")
        if origin not in allowed:
            raise Refused(403, "Origin", f"origin {origin or '(none)'!r} is not allowed")
        wait = limit.retry_after(request.client.host if request.client else "-", runtime.clock())
        if wait is not None:
            raise Refused(429, "rate", "too many requests", {"Retry-After": str(wait)})
        try:
            body = model.model_validate_json(await request.body())
        except ValidationError as exc:
            err = exc.errors()[0]
            raise Refused(422, ".".join(str(p) for p in err["loc"]) or "body",
                          err["msg"]) from exc
        if body.publishable_key != capture.publishable_key:
            raise Refused(401, "publishable_key",
                          "missing" if not body.publishable_key else "unknown")
        return body

    @router.options(PATH, include_in_schema=False)
    async def preflight(request: Request) -> Response:
        origin = request.headers.get("origin", "")
        if not capture.enabled or origin not in allowed:
            return Response(status_code=403, headers={"Vary": "Origin"})
        return Response(status_code=204, headers={
            **cors(origin), "Access-Control-Allow-Methods": "POST, DELETE",
            "Access-Control-Allow-Headers": "Content-Type", "Access-Control-Max-Age": "600"})

    @router.post(PATH, status_code=201)
    async def subscribe(request: Request) -> JSONResponse:
        """Store the subscription; 201 when new, 200 when it was known (then updated)."""
        origin = request.headers.get("origin", "")
        try:
            stored = await store(request, await gate(request, SubscribeIn), origin)
        except Refused as exc:
            return refusal(exc, origin)
        body = {"id": stored.subscription_id, "customer_linked": stored.customer_id is not None}
        return JSONResponse(body, status_code=201 if stored.created else 200,
                            headers=cors(origin))

    async def store(request: Request, body: SubscribeIn, origin: str) -> subs.Stored:
        sub = body.subscription
        _check_subscription(sub)
        browser = subs.BrowserSubscription(sub.endpoint, sub.keys.p256dh, sub.keys.auth)
        now = runtime.clock()
        if body.replaces is not None:
            replaced = await run_in_threadpool(
                subs.replace, runtime.sessions, old_endpoint=body.replaces.endpoint,
                old_auth=body.replaces.auth, subscription=browser, origin=origin, now=now)
            if replaced is None:
                raise Refused(404, "replaces", "no such subscription")
            return replaced
        external_id = None
        if body.customer_token:
            try:
                external_id = verify_customer_token(
                    body.customer_token, now=now, max_age_s=capture.max_token_age_s,
                    secret=capture.customer_token_secret.get_secret_value())
            except BadCustomerToken as exc:
                raise Refused(401, "customer_token", str(exc).partition(": ")[2]) from exc
        elif not body.cart_token:
            raise Refused(422, "customer_token", "customer_token or cart_token required")
        who = subs.Subscriber(source=capture.customer_source, external_id=external_id,
                              cart_token=body.cart_token, marketing=body.marketing,
                              origin=origin, user_agent=request.headers.get("user-agent"))
        return await run_in_threadpool(subs.subscribe, runtime.sessions,
                                       subscription=browser, subscriber=who, now=now)

    @router.delete(PATH, status_code=204)
    async def unsubscribe(request: Request) -> Response:
        origin = request.headers.get("origin", "")
        try:
            body = await gate(request, UnsubscribeIn)
            found = await run_in_threadpool(subs.unsubscribe, runtime.sessions,
                                            endpoint=body.endpoint, auth=body.auth,
                                            now=runtime.clock())
            if not found:
                raise Refused(404, "endpoint", "no such subscription")
        except Refused as exc:
            return refusal(exc, origin)
        return Response(status_code=204, headers=cors(origin))

    @router.get("/push/subscribe.js", include_in_schema=False)
    async def subscribe_js() -> Response:
        return scripts.response("subscribe.js") if scripts else Response(status_code=404)

    @router.get("/push/sw.js", include_in_schema=False)
    async def service_worker_js() -> Response:
        return scripts.response("sw.js") if scripts else Response(status_code=404)

    return router


def _check_subscription(sub: SubscriptionJson) -> None:
    url = urlsplit(sub.endpoint)
    if not (url.scheme == "https" or (url.scheme == "http" and url.hostname in LOOPBACK)):
        raise Refused(422, "subscription.endpoint", "must be an https URL of a push service")
    try:
        point = _unb64url(sub.keys.p256dh)
        secret = _unb64url(sub.keys.auth)
    except (binascii.Error, ValueError) as exc:
        raise Refused(422, "subscription.keys", "not base64url") from exc
    if len(point) != 65 or point[0] != 4:
        raise Refused(422, "subscription.keys.p256dh", "not an uncompressed P-256 point")
    if len(secret) != 16:
        raise Refused(422, "subscription.keys.auth", "must be 16 bytes")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _Scripts:
    """The two scripts, read once, with the engine's configuration filled in."""

    def __init__(self, runtime: Runtime) -> None:
        s = runtime.settings
        vapid = s.push.webpush.vapid_public_key
        if not vapid and s.push.webpush.vapid_private_key.get_secret_value():
            key = load_vapid_private_key(s.push.webpush.vapid_private_key.get_secret_value())
            vapid = application_server_key(key)
        config = json.dumps({
            "api": s.server.public_url.rstrip("/") + PATH,
            "vapidPublicKey": vapid,
            "publishableKey": s.push.capture.publishable_key,
            "icon": s.push.capture.icon_url,
        })
        folder = files("notifier.ingest").joinpath("push_static")
        self.bodies = {name: folder.joinpath(name).read_text(encoding="utf-8")
                       .replace("/*NOTIFIER_CONFIG*/{}", config)
                       for name in ("subscribe.js", "sw.js")}

    def response(self, name: str) -> Response:
        return Response(self.bodies[name], media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=300",
                                 "Access-Control-Allow-Origin": "*"})
