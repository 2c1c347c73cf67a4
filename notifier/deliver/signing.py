"""Signatures on our outbound webhooks, and their check for receivers and tests.

    X-Notifier-Signature: t=1764579600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e7...

``v1`` is the hex HMAC-SHA256, keyed with the shared secret, of ``"<t>.<raw body>"``.
Signing the timestamp with the body stops replays: a receiver refuses a ``t`` older than
a few minutes, and an attacker cannot move ``t`` without the secret. Several ``v1=`` may
appear during a secret rotation; any one matching is enough.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

HEADER = "X-Notifier-Signature"


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str | None, *, now: datetime,
           tolerance_s: int = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and is at most ``tolerance_s`` old."""
    if not header:
        return False
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k.strip() == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now.timestamp() - timestamp) > tolerance_s:
        return False
    expected = signature(secret, body, timestamp).split(",v1=", 1)[1]
    return any(k.strip() == "v1" and hmac.compare_digest(v.strip(), expected) for k, v in parts)
