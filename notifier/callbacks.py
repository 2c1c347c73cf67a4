"""What a provider's callback and the channel that asked for it must agree on: the paths
we tell providers to call and the tokens those URLs carry.

The SMS channels put these into each request (Twilio's ``StatusCallback``, SMSAPI's
``notify_url``); the track stage serves the paths and checks the tokens. Neither imports
the other: both import this.
"""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers

TWILIO_STATUS_PATH = "/webhooks/twilio/status"
SMSAPI_REPORT_PATH = "/webhooks/smsapi/status"


def report_token(idx: str, secret: str) -> str:
    """The token in a message's ``notify_url``: SMSAPI does not sign its delivery reports,
    so the URL it calls carries our HMAC over the message's idx."""
    return hmac.new(secret.encode(), f"smsapi-report:{idx}".encode(),
                    hashlib.sha256).hexdigest()[:32]


def smsapi_number(phone: str, region: str = "PL") -> str | None:
    """``48600100200`` for any spelling of a valid number (bare digits read as ``region``)."""
    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164).lstrip("+")
