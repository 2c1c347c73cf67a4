"""SMSAPI.pl callbacks: delivery reports and incoming replies (STOP).

- ``GET /webhooks/smsapi/status/{token}``: the ``notify_url`` each message was sent with.
  SMSAPI does not sign its callbacks; the URL carries our HMAC over the message's ``idx``
  and the report must name the same ``idx`` (and, when ``sms.smsapi.username`` is set, the
  same ``username``). Anything else is 403 and changes nothing. Answer: ``OK``.
- ``POST /webhooks/smsapi/inbound/{token}``: replies, as the panel's "odbiór SMS" callback
  (``sms_from``, ``sms_text``, ``username``), at a URL holding
  ``sms.smsapi.inbound_token``; STOP and its synonyms suppress the number.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse

from notifier.callbacks import SMSAPI_REPORT_PATH, report_token, smsapi_number
from notifier.runtime import Runtime
from notifier.track import receipts, smsapi_reports
from notifier.track.routes import is_stop


def build_smsapi_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(tags=["webhooks"])
    settings = runtime.settings
    smsapi = settings.sms.smsapi
    secret = settings.server.secret_key.get_secret_value()

    def check_username(given: str) -> None:
        if smsapi.username and given != smsapi.username:
            raise HTTPException(403, "username: not this account")

    @router.get(SMSAPI_REPORT_PATH + "/{token}", response_class=PlainTextResponse)
    async def smsapi_status(token: str, request: Request) -> PlainTextResponse:
        params = dict(request.query_params)
        try:
            reports = smsapi_reports.parse_reports(params)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        for report in reports:
            if not report.idx or not hmac.compare_digest(token, report_token(report.idx, secret)):
                raise HTTPException(403, "idx: does not match the signed callback URL")
        check_username(params.get("username", ""))
        await run_in_threadpool(smsapi_reports.record_reports, runtime.sessions,
                                reports=reports, now=runtime.clock())
        return PlainTextResponse("OK")

    @router.post("/webhooks/smsapi/inbound/{token}", response_class=PlainTextResponse)
    async def smsapi_inbound(token: str, request: Request) -> PlainTextResponse:
        expected = smsapi.inbound_token.get_secret_value()
        if not expected or not hmac.compare_digest(token, expected):
            raise HTTPException(403, "token: not the configured inbound_token")
        form = {k: str(v) for k, v in (await request.form()).items()}
        check_username(form.get("username", ""))
        if is_stop(form.get("sms_text", "")):
            number = smsapi_number(form.get("sms_from", ""))
            if number:
                await run_in_threadpool(receipts.suppress_phone, runtime.sessions,
                                        phone="+" + number, now=runtime.clock())
        return PlainTextResponse("OK")

    return router
