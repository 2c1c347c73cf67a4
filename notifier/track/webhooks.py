"""Email providers' event webhooks: verify -> parse -> record once -> 2xx.

- ``POST /webhooks/ses``: SNS HTTP(S) messages carrying SES events; signature checked
  against the signing certificate, subscription confirmations confirmed.
- ``POST /webhooks/mailgun``: HMAC signature, 5-minute window, a token used once.
- ``POST /webhooks/sendgrid``: ECDSA-signed Event Webhook batches.
- ``POST /webhooks/postmark``: basic auth on the URL.

A missing or wrong signature answers ``401`` and records nothing; a payload that is not
the provider's shape ``400``; an event for a message that is not ours is kept and
acknowledged (the provider must not retry it forever).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from notifier.runtime import Runtime
from notifier.store.db import transaction
from notifier.store.sql import insert_ignore
from notifier.store.track_tables import ReceiptEvent
from notifier.track import mailgun, postmark, sendgrid, ses
from notifier.track.outcomes import Receipt, apply_receipt, record
from notifier.track.sns import SnsError, SnsVerifier

log = logging.getLogger(__name__)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"body is not JSON: {exc}") from exc


def build_webhook_router(runtime: Runtime, *,
                         http_client: Callable[[], httpx.AsyncClient] | None = None
                         ) -> APIRouter:
    router = APIRouter(tags=["webhooks"])
    track = runtime.settings.track
    sns = SnsVerifier(cert_url_pattern=track.ses.cert_url_pattern, client=http_client)

    def answer(new: int, total: int) -> JSONResponse:
        return JSONResponse({"received": total, "new": new})

    @router.post("/webhooks/ses")
    async def ses_events(request: Request) -> JSONResponse:
        if not track.ses.enabled:
            raise HTTPException(404, "SES receipts are not enabled ([track.ses] enabled)")
        message = _json(await request.body())
        if not isinstance(message, dict):
            raise HTTPException(400, "body is not an SNS message")
        try:
            await sns.verify(message)
        except SnsError as exc:
            raise HTTPException(401, f"SNS signature: {exc}") from exc
        topic = str(message.get("TopicArn", ""))
        if track.ses.topic_arns and topic not in track.ses.topic_arns:
            raise HTTPException(403, f"TopicArn {topic} is not configured")
        kind = message.get("Type")
        if kind == "SubscriptionConfirmation":
            if not track.ses.confirm_subscriptions:
                return JSONResponse({"confirmed": False})
            try:
                await sns.confirm(message)
            except SnsError as exc:
                raise HTTPException(502, str(exc)) from exc
            log.info("confirmed the SNS subscription to %s", topic)
            return JSONResponse({"confirmed": True})
        if kind != "Notification":
            return JSONResponse({"ignored": kind})
        now = runtime.clock()
        try:
            found = ses.receipts(str(message.get("MessageId", "")),
                                 str(message.get("Message", "")), received=now)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        new = await run_in_threadpool(record, runtime.sessions, found, now=now)
        return answer(new, len(found))

    @router.post("/webhooks/mailgun")
    async def mailgun_events(request: Request) -> JSONResponse:
        body = _json(await request.body())
        if not isinstance(body, dict):
            raise HTTPException(400, "body is not a Mailgun webhook")
        now = runtime.clock()
        try:
            token = mailgun.verify(body, signing_key=track.mailgun.signing_key
                                   .get_secret_value(), now=now,
                                   max_age_s=track.mailgun.max_age_s)
            found = mailgun.receipts(body, received=now)
        except mailgun.MailgunError as exc:
            raise HTTPException(401, f"Mailgun signature: {exc}") from exc
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc

        def apply() -> int | None:
            with transaction(runtime.sessions) as session:
                if not insert_ignore(session, ReceiptEvent, {
                        "provider": mailgun.TOKEN_PROVIDER, "event_id": token[:255],
                        "kind": "token", "occurred_at": now, "received_at": now,
                        "payload": ""}, keys=["provider", "event_id"]):
                    return None
                return sum(apply_receipt(session, r, now=now) for r in found)

        new = await run_in_threadpool(apply)
        if new is None:
            raise HTTPException(401, "Mailgun signature: token already used (a replay)")
        return answer(new, len(found))

    @router.post("/webhooks/sendgrid")
    async def sendgrid_events(request: Request) -> JSONResponse:
        raw = await request.body()
        now = runtime.clock()
        try:
            sendgrid.verify(raw, signature=request.headers.get(sendgrid.SIGNATURE, ""),
                            timestamp=request.headers.get(sendgrid.TIMESTAMP, ""),
                            key=track.sendgrid.verification_key, now=now,
                            max_age_s=track.sendgrid.max_age_s)
        except sendgrid.SendGridError as exc:
            raise HTTPException(401, f"SendGrid signature: {exc}") from exc
        try:
            found = sendgrid.receipts(raw, received=now)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        new = await run_in_threadpool(record, runtime.sessions, found, now=now)
        return answer(new, len(found))

    @router.post("/webhooks/postmark")
    async def postmark_events(request: Request) -> JSONResponse:
        try:
            postmark.check_basic_auth(request.headers.get("authorization", ""),
                                      username=track.postmark.username,
                                      password=track.postmark.password.get_secret_value())
        except postmark.PostmarkError as exc:
            raise HTTPException(401, f"Postmark: {exc}",
                                headers={"WWW-Authenticate": 'Basic realm="notifier"'}) from exc
        body = _json(await request.body())
        if not isinstance(body, dict):
            raise HTTPException(400, "body is not a Postmark webhook")
        now = runtime.clock()
        found: list[Receipt] = postmark.receipts(body, received=now)
        new = await run_in_threadpool(record, runtime.sessions, found, now=now)
        return answer(new, len(found))

    return router
