from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from notifier.config import TwilioSettings
from notifier.deliver.base import key_digest
from notifier.deliver.sms import TwilioSmsChannel
from notifier.domain import Outgoing, SmsMessage
from notifier.errors import ConfigError, DeliveryError
from tests.fakes.twilio_server import FakeTwilio

SID = "AC" + "1" * 32
TOKEN = "twilio-auth-token"
SERVICE = "MG" + "2" * 32
CALLBACK = "https://notifier.example/webhooks/twilio/status"


def sms(key: str = "order-7/shipped/sms", body: str = "Paczka w drodze") -> Outgoing:
    return Outgoing(idempotency_key=key, message=SmsMessage(to="+48500100200", body=body))


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(account_sid=SID, auth_token=TOKEN) as fake:
        yield fake


def settings_for(twilio: FakeTwilio, **overrides: object) -> TwilioSettings:
    fields: dict[str, object] = {
        "account_sid": SID,
        "auth_token": TOKEN,
        "messaging_service_sid": SERVICE,
        "api_base_url": twilio.url,
        **overrides,
    }
    return TwilioSettings(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def channel(twilio: FakeTwilio) -> AsyncIterator[TwilioSmsChannel]:
    async with TwilioSmsChannel(settings_for(twilio), status_callback=CALLBACK) as channel:
        yield channel


async def test_creates_message_with_service_sid_and_status_callback(
    channel: TwilioSmsChannel, twilio: FakeTwilio
) -> None:
    result = await channel.send(sms())

    [request] = twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert twilio.created == [
        {
            "To": "+48500100200",
            "Body": "Paczka w drodze",
            "MessagingServiceSid": SERVICE,
            "StatusCallback": CALLBACK,
        }
    ]
    assert request.headers["I-Twilio-Idempotency-Token"] == key_digest("order-7/shipped/sms", 64)
    assert result.provider_id.startswith("SM")
    assert result.status == "queued"


async def test_uses_from_number_without_a_messaging_service(twilio: FakeTwilio) -> None:
    settings = settings_for(twilio, messaging_service_sid="", from_number="+48221234567")
    async with TwilioSmsChannel(settings, status_callback=CALLBACK) as channel:
        await channel.send(sms())

    [created] = twilio.created
    assert created["From"] == "+48221234567"
    assert "MessagingServiceSid" not in created


async def test_api_base_url_may_carry_a_path_prefix() -> None:
    with FakeTwilio(account_sid=SID, auth_token=TOKEN, prefix="/proxy/twilio") as proxy:
        settings = settings_for(proxy, api_base_url=f"{proxy.url}/proxy/twilio/")
        async with TwilioSmsChannel(settings) as channel:
            result = await channel.send(sms())

    assert proxy.requests[0].path == f"/proxy/twilio/2010-04-01/Accounts/{SID}/Messages.json"
    assert result.provider_id.startswith("SM")


async def test_server_error_is_transient_then_the_resend_succeeds(
    channel: TwilioSmsChannel, twilio: FakeTwilio
) -> None:
    twilio.script(FakeTwilio.server_error())

    with pytest.raises(DeliveryError) as caught:
        await channel.send(sms())
    assert (caught.value.permanent, caught.value.code) == (False, "twilio:20500")

    result = await channel.send(sms())
    assert result.provider_id.startswith("SM")
    tokens = {r.headers["I-Twilio-Idempotency-Token"] for r in twilio.requests}
    assert len(twilio.requests) == 2 and len(tokens) == 1  # the retry is recognisable


async def test_rate_limit_is_transient_with_retry_after(
    channel: TwilioSmsChannel, twilio: FakeTwilio
) -> None:
    twilio.script(FakeTwilio.rate_limited(retry_after="7"))

    with pytest.raises(DeliveryError) as caught:
        await channel.send(sms())

    assert caught.value.permanent is False
    assert caught.value.retry_after == 7.0


@pytest.mark.parametrize("code", [21610, 21211, 21614])
async def test_recipient_errors_are_permanent(
    channel: TwilioSmsChannel, twilio: FakeTwilio, code: int
) -> None:
    twilio.script(FakeTwilio.error(code))

    with pytest.raises(DeliveryError) as caught:
        await channel.send(sms())

    assert (caught.value.permanent, caught.value.code) == (True, f"twilio:{code}")


async def test_wrong_credentials_are_transient(twilio: FakeTwilio) -> None:
    settings = settings_for(twilio, auth_token="not-the-token")
    async with TwilioSmsChannel(settings) as channel:
        with pytest.raises(DeliveryError) as caught:
            await channel.send(sms())

    assert (caught.value.permanent, caught.value.code) == (False, "twilio:20003")


async def test_unreachable_api_is_transient(twilio: FakeTwilio) -> None:
    settings = settings_for(twilio)
    twilio.stop()
    async with TwilioSmsChannel(settings) as channel:
        with pytest.raises(DeliveryError) as caught:
            await channel.send(sms())

    assert (caught.value.permanent, caught.value.code) == (False, "twilio:network")


async def test_too_long_body_is_refused_before_calling_twilio(
    channel: TwilioSmsChannel, twilio: FakeTwilio
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await channel.send(sms(body="x" * 1601))

    assert (caught.value.permanent, caught.value.code) == (True, "too-long")
    assert twilio.requests == []


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"account_sid": ""}, "sms.twilio.account_sid"),
        ({"auth_token": ""}, "sms.twilio.auth_token"),
        ({"from_number": "", "messaging_service_sid": ""}, "sms.twilio"),
    ],
)
def test_missing_settings_are_refused_at_construction(overrides: dict, key: str) -> None:
    fields = {"account_sid": SID, "auth_token": TOKEN, "from_number": "+48221234567", **overrides}
    with pytest.raises(ConfigError, match=key):
        TwilioSmsChannel(TwilioSettings(**fields))
