"""Webhook signature checks, in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac

from notifier.errors import SignatureError


def hmac_base64(body: bytes, secret: str) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_hmac_base64(body: bytes, signature: str | None, secrets: list[str], *,
                       header: str) -> None:
    """Accept a body signed with any of ``secrets`` (current and, during a rotation,
    previous); compare every candidate so timing reveals nothing about which matched."""
    if not secrets:
        raise SignatureError(f"{header}: no webhook secret configured for this source")
    if not signature:
        raise SignatureError(f"{header}: missing signature header")
    ok = False
    for secret in secrets:
        ok |= hmac.compare_digest(hmac_base64(body, secret).encode(), signature.strip().encode())
    if not ok:
        raise SignatureError(f"{header}: signature does not match the body")
