from __future__ import annotations

import pytest

from notifier.track.twilio_signature import is_valid_twilio_signature
from tests.fakes.twilio_server import twilio_signature

TOKEN = "twilio-auth-token"
URL = "https://notifier.example/webhooks/twilio/status"
PARAMS = {
    "MessageSid": "SM" + "0" * 31 + "1",
    "MessageStatus": "delivered",
    "To": "+48500100200",
    "AccountSid": "AC" + "1" * 32,
}


def test_a_correctly_signed_callback_validates() -> None:
    signature = twilio_signature(TOKEN, URL, PARAMS)

    assert is_valid_twilio_signature(auth_token=TOKEN, url=URL, params=PARAMS, signature=signature)


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        (TOKEN, URL, PARAMS, "bm90IHRoZSBzaWduYXR1cmU="),
        (TOKEN, URL, {**PARAMS, "MessageStatus": "failed"}, None),  # tampered field
        (TOKEN, URL + "?x=1", PARAMS, None),  # another URL
        ("another-token", URL, PARAMS, None),
        ("", URL, PARAMS, None),
        (TOKEN, URL, PARAMS, ""),
    ],
)
def test_a_bad_signature_does_not_validate(
    token: str, url: str, params: dict[str, str], signature: str | None
) -> None:
    if signature is None:
        signature = twilio_signature(TOKEN, URL, PARAMS)

    assert not is_valid_twilio_signature(
        auth_token=token, url=url, params=params, signature=signature
    )
