"""SendGrid Event Webhook, with its signature verification (ECDSA P-256, SHA-256).

SendGrid signs ``timestamp + raw body`` and sends the base64 DER signature in
``X-Twilio-Email-Event-Webhook-Signature`` and the timestamp in
``X-Twilio-Email-Event-Webhook-Timestamp``; the verification key shown in SendGrid's
settings is a base64 DER public key. The body is a JSON array of events, each with a
unique ``sg_event_id``; ``smtp-id`` is the Message-ID SendGrid saw, ``sg_message_id``
its own id (its prefix before the first dot is the ``X-Message-Id`` of the send).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from notifier.track.outcomes import Receipt, bounce_kind_of
from notifier.track.timeparse import parse_instant, window_problem

PROVIDER = "sendgrid"
SIGNATURE = "x-twilio-email-event-webhook-signature"
TIMESTAMP = "x-twilio-email-event-webhook-timestamp"


class SendGridError(ValueError):
    """Missing or wrong signature."""


def verify(raw: bytes, *, signature: str, timestamp: str, key: str, now: datetime,
           max_age_s: float) -> None:
    if not key or not signature or not timestamp:
        raise SendGridError("signature missing")
    try:
        public = load_der_public_key(base64.b64decode(key))
        sig = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SendGridError("signature or verification key is not valid base64 DER") from exc
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise SendGridError("verification key is not an ECDSA key")
    try:
        public.verify(sig, timestamp.encode() + raw, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise SendGridError("signature does not match") from exc
    problem = window_problem(timestamp, now=now, max_age_s=max_age_s)
    if problem:
        raise SendGridError(problem)


def _one(event: dict[str, Any], received: datetime) -> Receipt | None:
    name = str(event.get("event", ""))
    kind = {"delivered": "delivered", "deferred": "deferred", "bounce": "bounced",
            "dropped": "bounced", "spamreport": "complained", "unsubscribe": "unsubscribed",
            "group_unsubscribe": "unsubscribed", "open": "opened"}.get(name)
    if kind is None:
        return None
    sg_id = str(event.get("sg_message_id") or "")
    ids = tuple(i for i in (str(event.get("smtp-id") or ""), sg_id, sg_id.split(".")[0]) if i)
    status = str(event.get("status") or "") or None
    bounce = None
    if kind == "bounced":
        # "blocked" bounces are temporary rejections; "dropped" means SendGrid will not
        # send to the address at all (it bounced before).
        bounce = ("soft" if event.get("type") == "blocked"
                  else "hard" if name == "dropped" else bounce_kind_of(status))
    return Receipt(provider=PROVIDER, event_id=str(event.get("sg_event_id") or ""),
                   kind=kind, occurred_at=parse_instant(event.get("timestamp"),
                                                        default=received),
                   message_ids=ids, address=event.get("email"), bounce_kind=bounce,
                   status=status,
                   detail=str(event.get("reason") or event.get("response") or "") or None,
                   payload=json.dumps(event, sort_keys=True))


def receipts(raw: bytes, *, received: datetime) -> list[Receipt]:
    try:
        events = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    if not isinstance(events, list):
        raise ValueError("body is not a JSON array of events")
    out = [_one(e, received) for e in events if isinstance(e, dict)]
    return [r for r in out if r is not None and r.event_id]
