"""Short-lived customer tokens a shop renders into its pages for push subscription.

The shop signs with ``push.capture.customer_token_secret``; no call to us is needed, so a
theme can compute one in a line of Liquid, PHP or Python::

    payload = f"{external_id}.{expires_unix}"
    token = payload + "." + hmac_sha256_hex(secret, payload)

    verify_customer_token(token, secret=..., now=now, max_age_s=86400) -> "cust-42"

The external id may itself contain dots: the expiry and the signature are the last two
fields. A token past its expiry, or expiring further ahead than ``max_age_s`` (a token
meant to be short-lived that is not), is refused.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime


class BadCustomerToken(ValueError):
    """The customer token is malformed, forged, expired or too long-lived."""


def sign_customer_token(external_id: str, *, secret: str, expires: datetime) -> str:
    payload = f"{external_id}.{int(expires.timestamp())}"
    return f"{payload}.{_mac(payload, secret)}"


def verify_customer_token(token: str, *, secret: str, now: datetime, max_age_s: int) -> str:
    """The customer's external id, or :class:`BadCustomerToken` saying why not."""
    payload, _, mac = token.rpartition(".")
    external_id, _, expires = payload.rpartition(".")
    if not external_id or not expires.isdigit() or not mac:
        raise BadCustomerToken("customer_token: malformed (want <id>.<expiry>.<hmac>)")
    if not hmac.compare_digest(mac.lower(), _mac(payload, secret)):
        raise BadCustomerToken("customer_token: signature does not match")
    left = int(expires) - now.timestamp()
    if left <= 0:
        raise BadCustomerToken("customer_token: expired")
    if left > max_age_s:
        raise BadCustomerToken(f"customer_token: expires more than {max_age_s} s ahead")
    return external_id


def _mac(payload: str, secret: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
