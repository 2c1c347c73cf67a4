"""Delivery status notifications (RFC 3464) read with the ``email`` package.

A DSN is a ``multipart/report; report-type=delivery-status`` with a human part, a
``message/delivery-status`` part (per-message fields, then one block per recipient:
``Final-Recipient``, ``Action``, ``Status``, ``Diagnostic-Code``) and the original
message or its headers (``message/rfc822`` / ``text/rfc822-headers``), where we find
our ``Message-ID``. Postfix, Exim 4, Gmail and Microsoft 365 all send this shape;
Exim's older plain-text bounces (``X-Failed-Recipients``, the SMTP reply in the text)
are read too. Status ``5.x.x`` is a hard bounce, ``4.x.x`` soft; ``Action: delayed``
is a deferral. A VERP return path (``bounces+<token>@domain``) names the notification
directly, even when the original headers were not returned.
"""

from __future__ import annotations

import email
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime

from notifier.track.outcomes import Receipt, bounce_kind_of

PROVIDER = "imap"
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"\b([45])\d\d\b")


@dataclass(frozen=True)
class RecipientStatus:
    recipient: str
    action: str
    status: str | None
    diagnostic: str | None


def _blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package parses the blocks as messages
        return [p for p in payload if isinstance(p, Message)]
    text = payload if isinstance(payload, str) else str(part.get_payload(decode=True) or "")
    return [email.message_from_string(chunk) for chunk in re.split(r"\r?\n\r?\n", text)
            if chunk.strip()]


def _address(value: str | None) -> str:
    text = (value or "").strip()
    if ";" in text:
        text = text.split(";", 1)[1]
    return text.strip().strip("<>").strip()


def statuses(msg: Message) -> list[RecipientStatus]:
    """The per-recipient blocks of a DSN (or of a plain-text bounce)."""
    out: list[RecipientStatus] = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in _blocks(part)[1:] or _blocks(part):
            recipient = _address(block.get("Final-Recipient") or block.get("Original-Recipient"))
            if not recipient:
                continue
            status = _STATUS.search(str(block.get("Status") or ""))
            diagnostic = " ".join(str(block.get("Diagnostic-Code") or "").split()) or None
            out.append(RecipientStatus(recipient, str(block.get("Action") or "").lower(),
                                       status.group(0) if status else None, diagnostic))
    if out:
        return out
    failed = msg.get("X-Failed-Recipients")
    if failed:  # Exim's classic plain-text bounce
        text = _text(msg)
        status = _STATUS.search(text)
        code = _SMTP_CODE.search(text)
        guessed = status.group(0) if status else (f"{code.group(1)}.0.0" if code else "5.0.0")
        line = next((ln.strip() for ln in text.splitlines() if _SMTP_CODE.search(ln)), None)
        out = [RecipientStatus(r.strip(), "failed", guessed, line)
               for r in str(failed).split(",") if r.strip()]
    return out


def _text(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return ""


def original_message_id(msg: Message) -> str | None:
    """The ``Message-ID`` of the message that bounced, from the returned copy or headers."""
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message) and inner.get("Message-ID"):
                return str(inner["Message-ID"]).strip()
        elif kind == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(
                part.get_payload())
            headers = email.message_from_string(text)
            if headers.get("Message-ID"):
                return str(headers["Message-ID"]).strip()
    text = _text(msg)  # plain-text bounces quote the original headers in the body
    found = re.search(r"^Message-ID:\s*(<[^>\s]+>)", text, re.IGNORECASE | re.MULTILINE)
    return found.group(1) if found else None


def receipts(raw: bytes, *, received: datetime,
             verp: Callable[[str], int | None] = lambda _address: None) -> list[Receipt]:
    """The receipts of one bounce message; [] when it is no bounce we understand."""
    msg: EmailMessage = email.message_from_bytes(raw, policy=policy.compat32)  # type: ignore[assignment]
    blocks = statuses(msg)
    if not blocks:
        return []
    notification_id = None
    for header in ("Delivered-To", "X-Original-To", "Envelope-To", "To"):
        for value in msg.get_all(header) or []:
            notification_id = notification_id or verp(_address(str(value)))
    msgid = original_message_id(msg)
    try:
        at = parsedate_to_datetime(str(msg["Date"])) if msg["Date"] else received
    except (TypeError, ValueError):
        at = received
    own_id = str(msg.get("Message-ID") or "").strip() or f"{msgid}:{at.isoformat()}"
    out = []
    for block in blocks:
        if block.action == "delayed":
            kind, bounce = "deferred", None
        elif block.action in ("delivered", "relayed", "expanded"):
            kind, bounce = "delivered", None
        else:
            kind, bounce = "bounced", bounce_kind_of(block.status)
        out.append(Receipt(provider=PROVIDER, event_id=f"{own_id}:{block.recipient}",
                           kind=kind, occurred_at=at, message_ids=(msgid,) if msgid else (),
                           address=block.recipient, bounce_kind=bounce, status=block.status,
                           detail=block.diagnostic, notification_id=notification_id,
                           payload=raw.decode("utf-8", "replace")[:100_000]))
    return out
