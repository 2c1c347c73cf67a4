"""Turn an :class:`~notifier.domain.EmailMessage` into RFC 5322 bytes.

One builder serves the SMTP channel, the file outbox and template previews, so what a
marketer previews is byte-for-byte what a customer's mail client receives.

It uses the ``email.mime`` classes (the compat32 policy) rather than ``EmailMessage``
with the modern policy: the modern header objects cost about 2 ms per message, more than
rendering the template, on the dispatcher's hot path. Non-ASCII headers are encoded
explicitly (RFC 2047), bodies as quoted-printable UTF-8.
"""

from __future__ import annotations

from email import policy
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid, parseaddr

from notifier.domain import EmailMessage

# Fold only past RFC 5322's hard limit: folding at 78 can split a long List-Unsubscribe
# URL, and some mail clients then fail to recognise it.
_WIRE = policy.compat32.clone(max_line_length=998, linesep="\r\n")
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


def build_mime(message: EmailMessage, *, message_id: str | None = None) -> Message:
    """multipart/alternative with the plain text first and the HTML last (preferred)."""
    mime = MIMEMultipart("alternative")
    mime["From"] = _address(message.from_addr)
    mime["To"] = _address(message.to)
    mime["Subject"] = _text(message.subject)
    mime["Date"] = formatdate(localtime=False)
    mime["Message-ID"] = message_id or make_msgid(domain=_domain_of(message.from_addr))
    if message.reply_to:
        mime["Reply-To"] = _address(message.reply_to)
    for name, value in message.headers:
        mime[name] = _text(value)
    mime.attach(MIMEText(message.text, "plain", _UTF8_QP))
    mime.attach(MIMEText(message.html, "html", _UTF8_QP))
    return mime


def to_bytes(mime: Message) -> bytes:
    """The message as sent on the wire (CRLF line ends, headers unfolded up to 998)."""
    return mime.as_bytes(policy=_WIRE)


def _text(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


def _address(value: str) -> str:
    name, addr = parseaddr(value)
    if not addr:
        return _text(value)
    return formataddr((name, addr), charset="utf-8") if name else addr


def _domain_of(address: str) -> str:
    address = address.strip().rstrip(">")
    return address.rsplit("@", 1)[-1] if "@" in address else "notifier.local"
