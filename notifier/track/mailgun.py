"""Mailgun webhooks: HMAC-SHA256 of ``timestamp + token`` with the webhook signing key.

A signature older than ``max_age_s`` (5 minutes) is refused, and a token is accepted
once: a captured request replayed inside the window is refused too (the token is the
``receipt_events`` row ``("mailgun-token", token)``, stored in the same transaction).
Mailgun's ``failed`` event with ``severity = permanent`` is a hard bounce,
``temporary`` a soft one; ``complained`` and ``unsubscribed`` are what they say.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from notifier.track.outcomes import Receipt, bounce_kind_of
from notifier.track.timeparse import parse_instant, window_problem

PROVIDER = "mailgun"
TOKEN_PROVIDER = "mailgun-token"
EVENTS = {"delivered": "delivered", "failed": "bounced", "complained": "complained",
          "unsubscribed": "unsubscribed", "opened": "opened"}


class MailgunError(ValueError):
    """Missing, wrong or stale signature."""


def verify(body: dict[str, Any], *, signing_key: str, now: datetime,
           max_age_s: float) -> str:
    """Check ``body["signature"]``; its token (to be refused if seen again)."""
    sig = body.get("signature")
    if not isinstance(sig, dict) or not signing_key:
        raise MailgunError("signature missing")
    timestamp, token = str(sig.get("timestamp", "")), str(sig.get("token", ""))
    given = str(sig.get("signature", ""))
    expected = hmac.new(signing_key.encode(), (timestamp + token).encode(),
                        hashlib.sha256).hexdigest()
    if not token or not hmac.compare_digest(given, expected):
        raise MailgunError("signature does not match")
    problem = window_problem(timestamp, now=now, max_age_s=max_age_s)
    if problem:
        raise MailgunError(problem)
    return token


def receipts(body: dict[str, Any], *, received: datetime) -> list[Receipt]:
    data = body.get("event-data")
    if not isinstance(data, dict):
        raise ValueError("event-data missing")
    kind = EVENTS.get(str(data.get("event", "")))
    if kind is None:
        return []
    headers = (data.get("message") or {}).get("headers") or {}
    status = data.get("delivery-status") or {}
    bounce = None
    if kind == "bounced":
        severity = str(data.get("severity", ""))
        bounce = ("soft" if severity == "temporary" else "hard" if severity == "permanent"
                  else bounce_kind_of(str(status.get("enhanced-code") or "")))
        if bounce == "soft":
            kind = "bounced"
    return [Receipt(
        provider=PROVIDER, event_id=str(data.get("id") or ""), kind=kind,
        occurred_at=parse_instant(data.get("timestamp"), default=received),
        message_ids=tuple(str(i) for i in (headers.get("message-id"),) if i),
        address=data.get("recipient"), bounce_kind=bounce,
        status=str(status.get("enhanced-code") or status.get("code") or "") or None,
        detail=str(status.get("description") or status.get("message") or data.get("reason")
                   or "") or None,
        payload=json.dumps(data, sort_keys=True))]
