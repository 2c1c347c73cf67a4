"""Amazon SES events (bounce, complaint, delivery...) as they arrive inside SNS messages.

Both shapes are read: identity notifications (``notificationType``) and configuration
set event publishing (``eventType``). A message is matched by ``mail.messageId`` (SES's
own id) and by the ``Message-ID`` header in ``mail.commonHeaders``. SES's bounce types:
``Permanent`` is hard, ``Transient`` soft, ``Undetermined`` decided by the status code.
The SNS ``MessageId`` names the event (SNS keeps it on retries); one receipt per
affected recipient.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from notifier.track.outcomes import Receipt, bounce_kind_of
from notifier.track.timeparse import parse_instant

PROVIDER = "ses"


def receipts(sns_message_id: str, message: str, *, received: datetime) -> list[Receipt]:
    """The receipts in one SNS ``Message`` (SES's JSON); [] for types we do not use."""
    try:
        data = json.loads(message)
    except json.JSONDecodeError as exc:
        raise ValueError(f"SES Message is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("SES Message is not a JSON object")
    kind = str(data.get("notificationType") or data.get("eventType") or "")
    mail = data.get("mail") or {}
    ids = tuple(i for i in (str(mail.get("messageId") or ""),
                            str((mail.get("commonHeaders") or {}).get("messageId") or ""))
                if i)

    def one(suffix: str, what: str, at: Any, **extra: Any) -> Receipt:
        return Receipt(provider=PROVIDER, event_id=f"{sns_message_id}:{suffix}", kind=what,
                       occurred_at=parse_instant(at, default=received), message_ids=ids,
                       payload=message, **extra)

    if kind == "Bounce":
        bounce = data.get("bounce") or {}
        soft = {"Transient": "soft", "Permanent": "hard"}.get(str(bounce.get("bounceType")))
        return [one(r.get("emailAddress", ""), "bounced", bounce.get("timestamp"),
                    address=r.get("emailAddress"), status=r.get("status"),
                    bounce_kind=soft or bounce_kind_of(r.get("status")),
                    detail=r.get("diagnosticCode") or bounce.get("bounceSubType"))
                for r in bounce.get("bouncedRecipients") or []]
    if kind == "Complaint":
        complaint = data.get("complaint") or {}
        return [one(r.get("emailAddress", ""), "complained", complaint.get("timestamp"),
                    address=r.get("emailAddress"),
                    detail=complaint.get("complaintFeedbackType"))
                for r in complaint.get("complainedRecipients") or []]
    if kind == "Delivery":
        delivery = data.get("delivery") or {}
        return [one(r, "delivered", delivery.get("timestamp"), address=r,
                    detail=delivery.get("smtpResponse"))
                for r in delivery.get("recipients") or []]
    if kind == "DeliveryDelay":
        delay = data.get("deliveryDelay") or {}
        return [one(r.get("emailAddress", ""), "deferred", delay.get("timestamp"),
                    address=r.get("emailAddress"), status=r.get("status"),
                    detail=delay.get("delayType"))
                for r in delay.get("delayedRecipients") or []]
    if kind == "Subscription":  # SES subscription management: the customer unsubscribed
        sub = data.get("subscription") or {}
        return [one(sub.get("contactList", "list"), "unsubscribed", sub.get("timestamp"),
                    address=(mail.get("destination") or [None])[0])]
    return []
