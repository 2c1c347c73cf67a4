"""Postmark webhooks. Postmark does not sign them: the webhook URL carries basic auth
credentials (``https://user:password@host/webhooks/postmark``), checked here.

``RecordType`` decides the event: ``Delivery``, ``Bounce`` (``Type`` ``HardBounce`` and
its permanent kin are hard, ``SoftBounce``/``Transient`` soft), ``SpamComplaint``,
``SubscriptionChange`` (``SuppressSending`` true is an unsubscribe), ``Open``.
``MessageID`` is Postmark's id of the send (stored as provider id by a Postmark
channel); a bounce's numeric ``ID`` names the event.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from notifier.track.outcomes import Receipt
from notifier.track.timeparse import parse_instant

PROVIDER = "postmark"
HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "SpamNotification",
        "Blocked", "AddressChange", "Unsubscribe", "DMARCPolicy"}
SOFT = {"SoftBounce", "Transient", "DnsError", "AutoResponder", "ChallengeVerification",
        "OpenRelayTest", "Unknown", "VirusNotification", "SMTPApiError", "InboundError"}


class PostmarkError(ValueError):
    """Credentials missing or wrong."""


def check_basic_auth(header: str, *, username: str, password: str) -> None:
    if not username or not password:
        raise PostmarkError("basic auth is not configured")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise PostmarkError("basic auth missing")
    try:
        user, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise PostmarkError("basic auth malformed") from exc
    # Compare digests: equal length, so the comparison time says nothing about the secret.
    ok_user = hmac.compare_digest(hashlib.sha256(user.encode()).digest(),
                                  hashlib.sha256(username.encode()).digest())
    ok_pass = hmac.compare_digest(hashlib.sha256(secret.encode()).digest(),
                                  hashlib.sha256(password.encode()).digest())
    if not (ok_user and ok_pass):
        raise PostmarkError("basic auth does not match")


def receipts(body: dict[str, Any], *, received: datetime) -> list[Receipt]:
    record = str(body.get("RecordType", ""))
    message_id = str(body.get("MessageID") or "")
    common = {"provider": PROVIDER, "message_ids": (message_id,) if message_id else (),
              "payload": json.dumps(body, sort_keys=True)}
    if record == "Delivery":
        return [Receipt(event_id=f"delivery:{message_id}:{body.get('Recipient')}",
                        kind="delivered", address=body.get("Recipient"),
                        occurred_at=parse_instant(body.get("DeliveredAt"), default=received),
                        detail=body.get("Details"), **common)]
    if record == "Bounce":
        kind = str(body.get("Type", ""))
        return [Receipt(event_id=f"bounce:{body.get('ID')}", kind="bounced",
                        address=body.get("Email"),
                        bounce_kind="hard" if kind in HARD else "soft",
                        occurred_at=parse_instant(body.get("BouncedAt"), default=received),
                        status=kind, detail=body.get("Description"), **common)]
    if record == "SpamComplaint":
        return [Receipt(event_id=f"complaint:{body.get('ID')}", kind="complained",
                        address=body.get("Email"),
                        occurred_at=parse_instant(body.get("BouncedAt"), default=received),
                        detail=body.get("Description"), **common)]
    if record == "SubscriptionChange" and body.get("SuppressSending"):
        return [Receipt(event_id=f"unsubscribe:{message_id}:{body.get('Recipient')}",
                        kind="unsubscribed", address=body.get("Recipient"),
                        occurred_at=parse_instant(body.get("ChangedAt"), default=received),
                        detail=body.get("SuppressionReason"), **common)]
    if record == "Open":
        return [Receipt(event_id=f"open:{message_id}:{body.get('ReceivedAt')}", kind="opened",
                        address=body.get("Recipient"),
                        occurred_at=parse_instant(body.get("ReceivedAt"), default=received),
                        **common)]
    return []
