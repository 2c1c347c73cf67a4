"""Provider callbacks, one-click unsubscribe, and the notifications API.

- ``POST /webhooks/twilio/status``: Twilio's status callback, verified with
  ``X-Twilio-Signature``; records delivered / undelivered / failed on the notification.
- ``POST /webhooks/twilio/inbound``: incoming SMS; STOP and its synonyms suppress the number.
- ``GET /u/{token}`` shows a confirmation page; ``POST /u/{token}`` unsubscribes from
  marketing on every channel (RFC 8058 one-click: mail clients POST
  ``List-Unsubscribe=One-Click`` without showing the page).
- ``GET /v1/notifications`` and ``/v1/notifications/{id}``: what was sent, and why not.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any, Protocol

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response

from notifier.auth import api_key_dependency
from notifier.callbacks import TWILIO_STATUS_PATH
from notifier.runtime import Runtime
from notifier.track import receipts
from notifier.track.explain import describe, list_notifications
from notifier.track.tokens import BadToken, verify
from notifier.track.twilio_signature import is_valid_twilio_signature


class Engine(Protocol):
    """What the routes need of the engine (``notifier serve``): reloading its rules."""

    rules: Callable[[], Any]

    def reload(self) -> list[str]: ...

# Twilio's default opt-out keywords (Advanced Opt-Out: STOP, STOPALL, UNSUBSCRIBE, CANCEL,
# END, QUIT, REVOKE, OPTOUT), with the spellings other carriers accept; matched on the
# whole reply, case- and punctuation-insensitive ("Stop." is STOP).
STOP_WORDS = frozenset({"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
                        "REVOKE", "OPTOUT", "OPT OUT", "OPT-OUT"})


#: Largest id a database column holds (BIGINT); a larger one is a 422, not a driver error.
MAX_ID = 2**63 - 1


def is_stop(text: str) -> bool:
    """Whether an inbound SMS body is an opt-out keyword."""
    return " ".join(text.strip(" \t\r\n.!?,;:").upper().split()) in STOP_WORDS


def build_track_router(runtime: Runtime, *, engine: Engine | None = None) -> APIRouter:
    router = APIRouter()
    settings = runtime.settings
    require_key = api_key_dependency(settings)
    public = settings.server.public_url.rstrip("/")

    async def twilio_form(request: Request, path: str) -> dict[str, str]:
        form = {k: str(v) for k, v in (await request.form()).items()}
        url = public + path + (f"?{request.url.query}" if request.url.query else "")
        if not is_valid_twilio_signature(
            auth_token=settings.sms.twilio.auth_token.get_secret_value(), url=url,
            params=form, signature=request.headers.get("x-twilio-signature", ""),
        ):
            raise HTTPException(403, "X-Twilio-Signature does not match")
        return form

    @router.post(TWILIO_STATUS_PATH, tags=["webhooks"])
    async def twilio_status(request: Request) -> Response:
        form = await twilio_form(request, TWILIO_STATUS_PATH)
        await run_in_threadpool(
            receipts.record_sms_status, runtime.sessions, sid=form.get("MessageSid", ""),
            status=form.get("MessageStatus", ""), error_code=form.get("ErrorCode", ""),
            now=runtime.clock())
        return Response(status_code=204)

    @router.post("/webhooks/twilio/inbound", tags=["webhooks"])
    async def twilio_inbound(request: Request) -> Response:
        form = await twilio_form(request, "/webhooks/twilio/inbound")
        # With Advanced Opt-Out Twilio says so itself (OptOutType=STOP, also for the
        # keywords an account adds, e.g. Polish ones).
        if is_stop(form.get("Body", "")) or form.get("OptOutType", "").upper() == "STOP":
            await run_in_threadpool(receipts.suppress_phone, runtime.sessions,
                                    phone=form.get("From", ""), now=runtime.clock())
        return Response("<Response/>", media_type="application/xml")

    def customer_of(token: str) -> int | None:
        try:
            payload = verify(token, settings.server.secret_key.get_secret_value())
            return int(payload["c"])
        except (BadToken, KeyError, TypeError, ValueError):
            # Also a correctly signed token with another shape (a survey token, a
            # hand-made one): the "link not valid" page, never a 500.
            return None

    def not_valid() -> HTMLResponse:
        # Customers' browsers land here (a mangled link): a page in their language that
        # says how to unsubscribe anyway, not the API's JSON error.
        shop, mail = html.escape(settings.shop.name), html.escape(settings.shop.support_email)
        body = ("<p>Ten link jest nieprawidłowy.<br>This link is not valid.</p>"
                "<p>Aby się wypisać, napisz do nas / To unsubscribe, write to us: "
                f'<a href="mailto:{mail}">{mail}</a></p>')
        page = _PAGE.format(shop=shop, title="Nieprawidłowy link / Invalid link", body=body)
        return HTMLResponse(page, status_code=404)

    @router.get("/u/{token}", response_class=HTMLResponse, tags=["customers"])
    async def unsubscribe_page(token: str) -> HTMLResponse:
        if customer_of(token) is None:
            return not_valid()
        shop = html.escape(settings.shop.name)
        return HTMLResponse(_PAGE.format(shop=shop, title="Wypisz się / Unsubscribe", body=(
            f'<form method="post"><p>Nie chcesz otrzymywać wiadomości marketingowych od {shop}?'
            '<br>Don\'t want marketing messages from us?</p>'
            '<button type="submit" name="List-Unsubscribe" value="One-Click">'
            "Wypisz mnie / Unsubscribe me</button></form>"
            "<p>Wiadomości o Twoich zamówieniach będziemy wysyłać nadal. / "
            "We will still tell you about your orders.</p>")))

    @router.post("/u/{token}", response_class=HTMLResponse, tags=["customers"])
    async def unsubscribe(token: str) -> HTMLResponse:
        customer_id = customer_of(token)
        if customer_id is None:
            return not_valid()
        await run_in_threadpool(receipts.unsubscribe, runtime.sessions,
                                customer_id=customer_id, now=runtime.clock())
        shop = html.escape(settings.shop.name)
        return HTMLResponse(_PAGE.format(shop=shop, title="Wypisano / Unsubscribed", body=(
            "<p>Gotowe: nie będziemy już wysyłać wiadomości marketingowych.<br>"
            "Done: you will get no more marketing messages.</p>")))

    @router.get("/v1/notifications", tags=["notifications"], dependencies=[Depends(require_key)])
    async def notifications(status: str | None = None, rule: str | None = None,
                            customer_id: int | None = Query(None, ge=1, le=MAX_ID),
                            limit: int = Query(50, ge=1, le=500)) -> JSONResponse:
        def query() -> list[dict[str, Any]]:
            with runtime.sessions() as session:
                rows = list_notifications(session, status=status, rule=rule,
                                          customer_id=customer_id, limit=min(limit, 500))
                return [describe(session, r.id or 0) or {} for r in rows]

        return JSONResponse(await run_in_threadpool(query))

    @router.get("/v1/notifications/{notification_id}", tags=["notifications"],
                dependencies=[Depends(require_key)])
    async def notification(notification_id: int = Path(ge=1, le=MAX_ID)) -> JSONResponse:
        def query() -> dict[str, Any] | None:
            with runtime.sessions() as session:
                return describe(session, notification_id)

        data = await run_in_threadpool(query)
        if data is None:
            raise HTTPException(404, "no such notification")
        return JSONResponse(data)

    @router.post("/v1/rules/reload", tags=["rules"], dependencies=[Depends(require_key)])
    async def reload_rules() -> JSONResponse:
        if engine is None:
            raise HTTPException(409, "this process runs no engine (notifier api)")
        problems = await run_in_threadpool(engine.reload)
        body = {"reloaded": not problems, "problems": problems, "rules": len(engine.rules())}
        return JSONResponse(body, status_code=200 if not problems else 422)

    return router


_PAGE = """<!doctype html><html lang="pl"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.6rem 1.2rem}}</style></head>
<body><h1>{shop}</h1>{body}</body></html>"""
