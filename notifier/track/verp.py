"""VERP return paths: ``<local>+<notification in base 36>-<mac>@<domain>``.

The bounce of a message sent with such a return path comes back to that very address,
so it names its notification even when the bouncing server returned no headers. The
MAC (HMAC-SHA256 with ``server.secret_key``, 8 hex digits) keeps a forged bounce from
naming someone else's message.
"""

from __future__ import annotations

import hashlib
import hmac
import re


def _mac(body: str, secret: str) -> str:
    return hmac.new(secret.encode(), f"v:{body}".encode(), hashlib.sha256).hexdigest()[:8]


def _b36(number: int) -> str:
    digits, out = "0123456789abcdefghijklmnopqrstuvwxyz", ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def return_path(notification_id: int, *, local: str, domain: str, secret: str) -> str:
    body = _b36(notification_id)
    return f"{local}+{body}-{_mac(body, secret)}@{domain}"


def parse_return_path(address: str, *, local: str, domain: str, secret: str) -> int | None:
    found = re.fullmatch(rf"{re.escape(local)}\+([0-9a-z]+)-([0-9a-f]{{8}})@{re.escape(domain)}",
                         address.strip().lower())
    if not found or not hmac.compare_digest(found.group(2), _mac(found.group(1), secret)):
        return None
    return int(found.group(1), 36)
