"""Turn an :class:`~notifier.domain.EmailMessage` into RFC 5322 bytes.

One builder serves the SMTP channel, the file outbox and template previews, so what a
marketer previews is byte-for-byte what a customer's mail client receives.

It uses the ``email.mime`` classes (the compat32 policy) rather than ``EmailMessage``
with the modern policy: the modern header objects cost about 2 ms per message, more than
rendering the template, on the dispatcher's hot path. Non-ASCII headers are encoded
explicitly (RFC 2047), bodies as quoted-printable UTF-8.
"""

from __future__ import annotations

import binascii
import functools
import random
import sys
from collections.abc import Iterator
from email import base64mime, policy, quoprimime
from email.charset import QP, RFC2047_CHROME_LEN, Charset
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


class _Utf8Headers(Charset):
    """UTF-8 for RFC 2047 headers, splitting encoded words as ``Charset`` does, fast.

    ``Charset.header_encode_lines`` finds where to split by encoding every prefix of the
    value again, one character longer each time (quadratic: ~0.1 ms for a 60-character
    Polish subject, every message). Both encoded lengths it measures add up octet by
    octet, so this keeps a running total instead and splits at the same characters:
    ``Header(value, charset)`` then writes exactly what it writes with ``"utf-8"``.
    """

    def __init__(self) -> None:
        super().__init__("utf-8")

    def header_encode_lines(self, string: str, maxlengths: Iterator[int]) -> list[str | None]:
        codec = self.output_codec or "us-ascii"
        encoder = self._get_encoder(string.encode(codec))
        if encoder is quoprimime:
            widths = quoprimime._QUOPRI_HEADER_MAP  # what header_length sums, per octet

            def length(octets: bytes) -> int:
                return sum(len(widths[o]) for o in octets)

            def encoded(total: int) -> int:
                return total
        else:
            def length(octets: bytes) -> int:
                return len(octets)

            def encoded(total: int) -> int:
                return base64mime.header_length(bytes(total))

        extra = len(self.get_output_charset()) + RFC2047_CHROME_LEN
        lines: list[str | None] = []
        start = total = 0  # the line being filled is string[start:i], ``total`` long
        maxlen = next(maxlengths) - extra
        for i, character in enumerate(string):
            grown = total + length(character.encode(codec))
            if encoded(grown) > maxlen:  # this character starts the next line
                if not lines and i == start:
                    lines.append(None)
                else:
                    lines.append(encoder.header_encode(string[start:i].encode(codec), codec))
                start, grown = i, length(character.encode(codec))
                maxlen = next(maxlengths) - extra
            total = grown
        lines.append(encoder.header_encode(string[start:].encode(codec), codec))
        return lines


_UTF8_HEADERS = _Utf8Headers()


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


def mime_bytes(message: EmailMessage, *, message_id: str | None = None) -> bytes:
    """``to_bytes(build_mime(message))``, written out directly: the same headers, parts
    and encodings (RFC 2047 headers, quoted-printable UTF-8 bodies) without building and
    flattening a tree of ``email`` objects, which cost more per message than rendering
    the template. The headers are byte for byte the ``email`` package's; the bodies are
    binascii's quoted-printable, which may break a line of exactly 76 octets and encodes
    a line's leading dot where the package does not (the same text once decoded). A
    header the direct path cannot write exactly as the ``email`` package would (a line
    over 998 characters, a line break in a value) goes that way."""
    headers = [
        ("From", _address(message.from_addr)), ("To", _address(message.to)),
        ("Subject", _text(message.subject)), ("Date", formatdate(localtime=False)),
        ("Message-ID", message_id or make_msgid(domain=_domain_of(message.from_addr))),
    ]
    if message.reply_to:
        headers.append(("Reply-To", _address(message.reply_to)))
    headers.extend((name, _text(value)) for name, value in message.headers)
    lines = []
    for name, value in headers:
        line = f"{name}: {value}"
        if "\r" in line or len(line) > 998 or (
                "\n" in line and any(not part[:1].isspace() for part in line.split("\n")[1:])):
            return to_bytes(build_mime(message, message_id=message_id))
        lines.append(line.replace("\n", "\r\n"))
    # As email.generator makes one: a QP body never contains "==", so it cannot clash.
    boundary = "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="
    head = (f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'
            "MIME-Version: 1.0\r\n" + "\r\n".join(lines) + "\r\n\r\n")
    return b"".join((head.encode("ascii"), _part(boundary, "plain", message.text), b"\r\n",
                     _part(boundary, "html", message.html),
                     f"\r\n--{boundary}--\r\n".encode("ascii")))


def _part(boundary: str, subtype: str, text: str) -> bytes:
    body = binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), istext=True)
    return (f"--{boundary}\r\nContent-Type: text/{subtype}; charset=\"utf-8\"\r\n"
            "MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            ).encode("ascii") + body.replace(b"\n", b"\r\n")


def _text(value: str) -> str:
    return value if value.isascii() else Header(value, _UTF8_HEADERS).encode()


def _address(value: str) -> str:
    if _bare(value):
        return value
    return _named_address(value)


def _bare(value: str) -> bool:
    """A plain ``local@domain`` (what most recipients are): nothing to parse or encode."""
    return value.isascii() and value.count("@") == 1 and not any(
        c in value for c in ' <>"(),;:[]\\\t\r\n')


@functools.lru_cache(maxsize=256)  # senders and reply-to addresses repeat for every message
def _named_address(value: str) -> str:
    name, addr = parseaddr(value)
    if not addr:
        return _text(value)
    return formataddr((name, addr), charset="utf-8") if name else addr


def _domain_of(address: str) -> str:
    address = address.strip().rstrip(">")
    return address.rsplit("@", 1)[-1] if "@" in address else "notifier.local"
