"""The direct MIME writer against the ``email`` package it stands in for."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.header import Header

from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.domain import EmailMessage
from notifier.mime import _UTF8_HEADERS, build_mime, mime_bytes, to_bytes

# Polish and Cyrillic letters, an emoji, the characters RFC 2047 encodes (=?_), spaces,
# tabs and line breaks: quoted-printable and base64 words, split and folded.
TEXT = st.text(alphabet="abcXYZ019 ąęłóśżŁŹабвгд😀€=?_:;,\t()\"\n", max_size=300)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_header_words_split_as_the_email_package_splits_them(value: str) -> None:
    assert Header(value, _UTF8_HEADERS).encode() == Header(value, "utf-8").encode()


def _normalised(data: bytes) -> bytes:
    """Boundary and Date differ between any two builds; everything else must not."""
    boundary = re.search(rb'boundary="([^"]+)"', data)
    assert boundary is not None
    data = data.replace(boundary.group(1), b"BOUNDARY")
    return re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\nDate: D\r\n", data)


def _parts(data: bytes) -> tuple[bytes, list[tuple[bytes, str]]]:
    """The normalised head (every header, byte for byte) and each part's own headers with
    its decoded text."""
    data = _normalised(data)
    head, _, rest = data.partition(b"\r\n\r\n")
    parsed = message_from_bytes(data, policy=policy.default)
    parts = []
    for part in parsed.iter_parts():
        raw = rest.split(b"--BOUNDARY\r\n")[len(parts) + 1]
        parts.append((raw.partition(b"\r\n\r\n")[0], part.get_content()))
    return head, parts


@settings(max_examples=100, deadline=None)
@given(subject=TEXT.map(lambda s: s.replace("\n", " ")), body=TEXT)
def test_mime_bytes_is_what_the_email_package_writes(subject: str, body: str) -> None:
    # Headers byte for byte; the bodies are quoted-printable from binascii, which may put a
    # soft line break where the email package does not (a line of exactly 76 octets) and
    # encodes a line's leading dot: the same text once decoded, every line within RFC
    # 2045's 76 octets.
    message = EmailMessage(to="anna@example.pl", subject=subject, text=body,
                           html=f"<p>{body}</p>", from_addr="Sklep Łódź <sklep@example.pl>",
                           reply_to="pomoc@example.pl",
                           headers=(("List-Unsubscribe", "<https://example.pl/u/t>"),))
    direct = mime_bytes(message, message_id="<id@example.pl>")
    built = to_bytes(build_mime(message, message_id="<id@example.pl>"))
    assert _parts(direct) == _parts(built)
    assert all(len(line) <= 76 for line in direct.split(b"\r\n\r\n", 1)[1].split(b"\r\n"))


def test_a_line_of_exactly_76_octets_decodes_the_same() -> None:
    # The case that showed the two encoders differ: 76 octets once encoded, 4-byte emoji last.
    body = "0000000óóóóóó€😀😀"
    message = EmailMessage(to="anna@example.pl", subject="", text=body, html=body,
                           from_addr="sklep@example.pl")
    direct = mime_bytes(message, message_id="<id@example.pl>")
    assert _parts(direct) == _parts(to_bytes(build_mime(message, message_id="<id@example.pl>")))
