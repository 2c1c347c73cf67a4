"""Verify ``X-Twilio-Signature`` on Twilio's status callbacks.

Twilio signs the exact URL it called plus the POSTed form fields with the account's auth
token. Behind a reverse proxy the URL our server sees differs from the public one, so
the route must pass the public URL (``{server.public_url}/webhooks/twilio/status`` plus any
query string), not ``request.url``::

    ok = is_valid_twilio_signature(
        auth_token=settings.sms.twilio.auth_token.get_secret_value(),
        url=f"{settings.server.public_url}/webhooks/twilio/status",
        params=dict(await request.form()),
        signature=request.headers.get("X-Twilio-Signature", ""),
    )
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator


def is_valid_twilio_signature(
    *, auth_token: str, url: str, params: Mapping[str, str], signature: str
) -> bool:
    """True when ``signature`` matches; an empty token or signature never validates."""
    if not auth_token or not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))
