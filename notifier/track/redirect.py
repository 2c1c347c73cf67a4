"""The customer-facing tracking endpoints: ``GET|HEAD /r/{token}`` and ``GET /o/{token}``.

``/r/{token}`` answers ``302`` to the destination stored with the message (never one
taken from the request: a query string is ignored) with ``Cache-Control: no-store``, so
every click reaches us; a token we did not sign, or a link we never stored, gets a
bilingual ``404`` page. ``/o/{token}`` is the open pixel: a 1x1 GIF, recorded once.
"""

from __future__ import annotations

import html
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from notifier.runtime import Runtime
from notifier.track import clicks
from notifier.track.links import parse_link_token, parse_open_token

PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00"
         b"\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def build_redirect_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()
    settings = runtime.settings
    secret = settings.server.secret_key.get_secret_value()
    rules = clicks.ScannerRules(grace=timedelta(seconds=settings.track.scanner_grace_s),
                                burst=timedelta(seconds=settings.track.scanner_burst_s))

    def gone() -> HTMLResponse:
        shop = html.escape(settings.shop.name)
        page = ("<!doctype html><html lang=\"pl\"><head><meta charset=\"utf-8\">"
                "<title>Nieprawidłowy link / Invalid link</title></head><body>"
                f"<h1>{shop}</h1><p>Ten link jest nieprawidłowy.<br>This link is not valid."
                "</p></body></html>")
        return HTMLResponse(page, status_code=404, headers=NO_STORE)

    # HEAD (link scanners) is served but kept out of the schema: one operation per path.
    @router.head("/r/{token}", include_in_schema=False, response_class=RedirectResponse,
                 status_code=302)
    @router.get("/r/{token}", tags=["customers"], response_class=RedirectResponse,
                status_code=302)
    async def redirect(token: str, request: Request) -> Response:
        parsed = parse_link_token(token, secret)
        if parsed is None:
            return gone()
        url = await run_in_threadpool(
            clicks.record_click, runtime.sessions, notification_id=parsed[0],
            link_index=parsed[1], method=request.method,
            user_agent=request.headers.get("user-agent", ""), now=runtime.clock(), rules=rules)
        if url is None:
            return gone()
        return RedirectResponse(url, status_code=302, headers=NO_STORE)

    @router.get("/o/{token}", tags=["customers"], include_in_schema=False)
    async def pixel(token: str) -> Response:
        notification_id = parse_open_token(token.removesuffix(".gif"), secret)
        if notification_id is not None:
            await run_in_threadpool(clicks.record_open, runtime.sessions,
                                    notification_id=notification_id, now=runtime.clock())
        return Response(PIXEL, media_type="image/gif", headers=NO_STORE)

    return router
