"""Signed tokens for customer links (one-click unsubscribe, preferences).

A token carries its own payload and an HMAC-SHA256 over it with ``server.secret_key``:
no table of issued links, and a forged or edited token fails verification.

    token = sign({"c": 42, "ch": "email", "p": "marketing"}, secret)
    verify(token, secret) -> {"c": 42, "ch": "email", "p": "marketing"}
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


class BadToken(ValueError):
    """The token is malformed or its signature does not match."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(body: str, secret: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()[:18])


def sign(payload: dict[str, Any], secret: str) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_mac(body, secret)}"


def verify(token: str, secret: str) -> dict[str, Any]:
    body, _, mac = token.partition(".")
    if not body or not mac or not hmac.compare_digest(mac, _mac(body, secret)):
        raise BadToken("link signature does not match")
    try:
        payload = json.loads(_unb64(body))
    except (ValueError, json.JSONDecodeError) as exc:
        raise BadToken("malformed link") from exc
    if not isinstance(payload, dict):
        raise BadToken("malformed link")
    return payload
