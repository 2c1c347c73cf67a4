from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import pytest

from notifier.config import WebPushSettings
from notifier.deliver.base import key_digest
from notifier.deliver.push import WebPushChannel
from notifier.deliver.vapid import generate_vapid_keys
from notifier.domain import Outgoing, PushMessage, PushSubscription
from notifier.errors import ConfigError, DeliveryError
from tests.fakes.http import Reply
from tests.fakes.push_endpoint import FakePushService, PushClient, verify_vapid

KEYS = generate_vapid_keys()
SUBJECT = "mailto:sklep@example.com"


def push(to: PushSubscription, key: str = "cart-9/reminder/push") -> Outgoing:
    message = PushMessage(
        to=to, title="Koszyk czeka", body="Twoje buty wciąż są w koszyku", url="https://s.example/c"
    )
    return Outgoing(idempotency_key=key, message=message)


@pytest.fixture
def service() -> Iterator[FakePushService]:
    with FakePushService() as fake:
        yield fake


@pytest.fixture
def browser() -> PushClient:
    return PushClient.create()


@pytest.fixture
async def channel() -> AsyncIterator[WebPushChannel]:
    settings = WebPushSettings(
        vapid_private_key=KEYS.private_key, vapid_public_key=KEYS.public_key, vapid_subject=SUBJECT
    )
    async with WebPushChannel(settings) as channel:
        yield channel


async def test_payload_is_encrypted_for_the_subscription_and_vapid_signed(
    channel: WebPushChannel, service: FakePushService, browser: PushClient
) -> None:
    result = await channel.send(push(browser.subscription(service.endpoint("device-1"))))

    [request] = service.requests
    assert request.path == "/push/device-1"
    assert request.headers["Content-Encoding"] == "aes128gcm"
    assert json.loads(browser.decrypt(request.body)) == {
        "title": "Koszyk czeka",
        "body": "Twoje buty wciąż są w koszyku",
        "url": "https://s.example/c",
        "tag": key_digest("cart-9/reminder/push"),
    }
    token = verify_vapid(request.headers["Authorization"], audience=service.url)
    assert token.public_key == KEYS.public_key
    assert token.claims["sub"] == SUBJECT
    assert request.headers["TTL"] == str(24 * 3600)
    assert request.headers["Topic"] == key_digest("cart-9/reminder/push")
    assert result.provider_id.startswith(f"{service.url}/m/")


async def test_another_browser_cannot_decrypt(
    channel: WebPushChannel, service: FakePushService, browser: PushClient
) -> None:
    await channel.send(push(browser.subscription(service.endpoint("device-1"))))

    with pytest.raises(Exception):  # noqa: B017 - any failure to decrypt will do
        PushClient.create().decrypt(service.requests[0].body)


@pytest.mark.parametrize("status", [404, 410])
async def test_gone_subscription_is_permanent(
    channel: WebPushChannel, service: FakePushService, browser: PushClient, status: int
) -> None:
    service.script(Reply(status, "push subscription has unsubscribed or expired"))

    with pytest.raises(DeliveryError) as caught:
        await channel.send(push(browser.subscription(service.endpoint("device-1"))))

    assert (caught.value.permanent, caught.value.code) == (True, "push:gone")


@pytest.mark.parametrize(
    ("reply", "code", "retry_after"),
    [
        (Reply(429, headers={"Retry-After": "30"}), "push:429", 30.0),
        (Reply(503), "push:503", None),
    ],
)
async def test_throttling_and_outages_are_transient(
    channel: WebPushChannel,
    service: FakePushService,
    browser: PushClient,
    reply: Reply,
    code: str,
    retry_after: float | None,
) -> None:
    service.script(reply)

    with pytest.raises(DeliveryError) as caught:
        await channel.send(push(browser.subscription(service.endpoint("device-1"))))

    assert (caught.value.permanent, caught.value.code) == (False, code)
    assert caught.value.retry_after == retry_after


async def test_subscription_without_keys_is_permanent(channel: WebPushChannel) -> None:
    with pytest.raises(DeliveryError) as caught:
        await channel.send(push(PushSubscription(endpoint="https://push.example/x")))

    assert (caught.value.permanent, caught.value.code) == (True, "push:no-subscription")


async def test_pem_private_key_is_accepted(service: FakePushService, browser: PushClient) -> None:
    settings = WebPushSettings(vapid_private_key=KEYS.private_key_pem, vapid_subject=SUBJECT)
    async with WebPushChannel(settings) as channel:
        await channel.send(push(browser.subscription(service.endpoint("device-2"))))

    token = verify_vapid(service.requests[0].headers["Authorization"], audience=service.url)
    assert token.public_key == KEYS.public_key


@pytest.mark.parametrize(
    ("private_key", "public_key", "message"),
    [
        ("", "", "push.webpush.vapid_private_key"),
        ("not a key!", "", "push.webpush.vapid_private_key"),
        (KEYS.private_key, generate_vapid_keys().public_key, "push.webpush.vapid_public_key"),
    ],
)
def test_bad_vapid_settings_are_refused(private_key: str, public_key: str, message: str) -> None:
    settings = WebPushSettings(vapid_private_key=private_key, vapid_public_key=public_key)
    with pytest.raises(ConfigError, match=message):
        WebPushChannel(settings)
