"""Turn an :class:`~notifier.domain.EmailMessage` into RFC 5322 bytes.

One builder serves the SMTP channel, the file outbox and template previews, so what a
marketer previews is byte-for-byte what a customer's mail client receives.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage as MimeMessage
from email.utils import formatdate, make_msgid

from notifier.domain import EmailMessage


def build_mime(message: EmailMessage, *, message_id: str | None = None) -> MimeMessage:
    """multipart/alternative with the plain text first and the HTML last (preferred)."""
    mime = MimeMessage(policy=_POLICY)
    mime["From"] = message.from_addr
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(localtime=False)
    mime["Message-ID"] = message_id or make_msgid(domain=_domain_of(message.from_addr))
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    for name, value in message.headers:
        mime[name] = value
    mime.set_content(message.text, subtype="plain", charset="utf-8")
    mime.add_alternative(message.html, subtype="html", charset="utf-8")
    return mime


# Fold only past RFC 5322's hard limit: the default 78 turns a long List-Unsubscribe URL
# into RFC 2047 encoded words, which mail clients then fail to recognise as a URL.
_POLICY = policy.default.clone(max_line_length=998)
_WIRE = policy.SMTP.clone(max_line_length=998)


def to_bytes(mime: MimeMessage) -> bytes:
    """The message as sent on the wire (CRLF line ends, headers unfolded up to 998)."""
    return mime.as_bytes(policy=_WIRE)


def _domain_of(address: str) -> str:
    address = address.strip().rstrip(">")
    return address.rsplit("@", 1)[-1] if "@" in address else "notifier.local"
