"""Tracked links: the compact signed token of ``/r/{token}`` and the message rewrite.

A token names (notification, link index) and carries a truncated HMAC-SHA256 with
``server.secret_key``; it holds no destination. The redirect reads the destination from
``message_links``, so a forged token or a changed query string leads nowhere new.

The form is short and deterministic (``3f.0.Ab3dEfGh`` for notification 123, link 0):
the same message rendered again gets the same tokens, and an SMS stays as long as it can.

    token = link_token(123, 0, secret)          # -> "3f.0.<mac>"
    parse_link_token(token, secret)             # -> (123, 0)
    tracked = rewrite(message, url_for=lambda i: f"{base}/r/{link_token(nid, i, secret)}",
                      keep=(f"{base}/u/", f"{base}/s/"))
    tracked.message, tracked.urls                # message with redirects, stored links
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from notifier.compose import sms
from notifier.domain import EmailMessage, Message, PushMessage, SmsMessage

_URL = re.compile(r"https?://[^\s<>\"']+")
_HREF = re.compile(r"""(href\s*=\s*)(["'])(https?://[^"']+)\2""", re.IGNORECASE)
_TRAILING = ".,;:!?)]}"


def _mac(text: str, secret: str, size: int = 6) -> str:
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()[:size]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def link_token(notification_id: int, index: int, secret: str) -> str:
    """The token of link ``index`` of a notification (GSM-7 and URL safe)."""
    body = f"{_b36(notification_id)}.{_b36(index)}"
    return f"{body}.{_mac('r:' + body, secret)}"


def open_token(notification_id: int, secret: str) -> str:
    body = _b36(notification_id)
    return f"{body}.{_mac('o:' + body, secret)}"


def _check(body: str, mac: str, domain: str, secret: str) -> bool:
    return bool(mac) and hmac.compare_digest(mac, _mac(domain + body, secret))


def parse_link_token(token: str, secret: str) -> tuple[int, int] | None:
    """(notification id, link index), or None for anything not signed by us."""
    parts = token.split(".")
    if len(parts) != 3 or not _check(f"{parts[0]}.{parts[1]}", parts[2], "r:", secret):
        return None
    try:
        return int(parts[0], 36), int(parts[1], 36)
    except ValueError:
        return None


def parse_open_token(token: str, secret: str) -> int | None:
    body, _, mac = token.partition(".")
    if not _check(body, mac, "o:", secret):
        return None
    try:
        return int(body, 36)
    except ValueError:
        return None


@dataclass(frozen=True)
class Tracked:
    """A message with its links through the redirect; ``urls[i]`` is link ``i``."""

    message: Message
    urls: tuple[str, ...]


class _Collector:
    def __init__(self, url_for: Callable[[int], str], keep: tuple[str, ...]) -> None:
        self.url_for, self.keep = url_for, keep
        self.urls: list[str] = []

    def swap(self, url: str) -> str:
        if url.startswith(self.keep):
            return url
        if url not in self.urls:
            self.urls.append(url)
        return self.url_for(self.urls.index(url))

    def text(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            url = match.group(0)
            tail = ""
            while url and url[-1] in _TRAILING:
                url, tail = url[:-1], url[-1] + tail
            return self.swap(url) + tail

        return _URL.sub(one, text)

    def html(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            url = html.unescape(match.group(3))
            return f"{match.group(1)}{match.group(2)}{html.escape(self.swap(url))}{match.group(2)}"

        return _HREF.sub(one, text)


def rewrite(message: Message, *, url_for: Callable[[int], str], keep: tuple[str, ...] = (),
            pixel: str | None = None) -> Tracked:
    """Send every http(s) link of ``message`` through ``url_for(index)``.

    Links starting with one of ``keep`` (unsubscribe, survey answers: already signed and
    meant to work without us counting them) are left alone; headers are never touched.
    An SMS whose tracked form would need more segments keeps its links as they were.
    ``pixel`` (an open-tracking image URL) is added to HTML email.
    """
    links = _Collector(url_for, keep)
    if isinstance(message, EmailMessage):
        body = links.html(message.html)
        if pixel:
            img = (f'<img src="{html.escape(pixel)}" width="1" height="1" alt="" '
                   'style="display:none">')
            body = body.replace("</body>", img + "</body>") if "</body>" in body else body + img
        text = links.text(message.text)
        return Tracked(replace(message, html=body, text=text), tuple(links.urls))
    if isinstance(message, SmsMessage):
        body = links.text(message.body)
        size = sms.measure(body)
        if size.segments > message.segments:
            return Tracked(message, ())
        return Tracked(replace(message, body=body, encoding=size.encoding,
                               segments=size.segments), tuple(links.urls))
    if isinstance(message, PushMessage) and _URL.fullmatch(message.url or ""):
        return Tracked(replace(message, url=links.swap(message.url)), tuple(links.urls))
    return Tracked(message, ())
