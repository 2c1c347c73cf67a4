from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from notifier.config import FcmSettings
from notifier.deliver.base import key_digest
from notifier.deliver.fcm import FCM_SCOPE, FcmChannel
from notifier.deliver.service_account import ServiceAccountTokenSource, StaticTokenSource
from notifier.domain import Outgoing, PushMessage, PushSubscription
from notifier.errors import ConfigError, DeliveryError
from tests.fakes.fcm_server import FakeFcm

PROJECT = "shop-app"


def push(token: str = "device-token-1", key: str = "order-3/delivered/push") -> Outgoing:
    message = PushMessage(
        to=PushSubscription(fcm_token=token), title="Dostarczono", body="Paczka jest u Ciebie"
    )
    return Outgoing(idempotency_key=key, message=message)


@pytest.fixture
def fcm() -> Iterator[FakeFcm]:
    with FakeFcm(project_id=PROJECT) as fake:
        yield fake


def channel_for(fcm: FakeFcm, token_source: object | None = None) -> FcmChannel:
    settings = FcmSettings(project_id=PROJECT, api_base_url=fcm.url)
    return FcmChannel(
        settings,
        token_source=token_source or StaticTokenSource(fcm.static_token),  # type: ignore[arg-type]
        http=httpx.AsyncClient(timeout=5),
    )


async def test_sends_an_http_v1_message_with_the_injected_token(fcm: FakeFcm) -> None:
    async with channel_for(fcm) as channel:
        result = await channel.send(push())

    [request] = fcm.requests
    assert request.path == f"/v1/projects/{PROJECT}/messages:send"
    assert request.headers["Authorization"] == f"Bearer {fcm.static_token}"
    tag = key_digest("order-3/delivered/push")
    assert fcm.sent == [
        {
            "token": "device-token-1",
            "notification": {"title": "Dostarczono", "body": "Paczka jest u Ciebie"},
            "data": {"title": "Dostarczono", "body": "Paczka jest u Ciebie", "url": "", "tag": tag},
            "android": {"collapse_key": tag},
            "apns": {"headers": {"apns-collapse-id": tag}},
        }
    ]
    assert result.provider_id == f"projects/{PROJECT}/messages/1"


@pytest.mark.parametrize(
    ("reply", "permanent", "code", "retry_after"),
    [
        (FakeFcm.error(404, "UNREGISTERED"), True, "push:gone", None),
        (FakeFcm.error(400, "INVALID_ARGUMENT"), True, "fcm:INVALID_ARGUMENT", None),
        (FakeFcm.error(403, "SENDER_ID_MISMATCH"), True, "fcm:SENDER_ID_MISMATCH", None),
        (FakeFcm.error(403), False, "fcm:PERMISSION_DENIED", None),  # our IAM role
        (FakeFcm.error(503, "UNAVAILABLE"), False, "fcm:UNAVAILABLE", None),
        (
            FakeFcm.error(429, "QUOTA_EXCEEDED", headers={"Retry-After": "12"}),
            False,
            "fcm:QUOTA_EXCEEDED",
            12.0,
        ),
        (FakeFcm.error(500), False, "fcm:INTERNAL", None),
    ],
)
async def test_fcm_errors_map_to_delivery_errors(
    fcm: FakeFcm, reply: object, permanent: bool, code: str, retry_after: float | None
) -> None:
    fcm.script(reply)  # type: ignore[arg-type]
    async with channel_for(fcm) as channel:
        with pytest.raises(DeliveryError) as caught:
            await channel.send(push())

    assert (caught.value.permanent, caught.value.code) == (permanent, code)
    assert caught.value.retry_after == retry_after


async def test_missing_device_token_is_permanent(fcm: FakeFcm) -> None:
    async with channel_for(fcm) as channel:
        with pytest.raises(DeliveryError) as caught:
            await channel.send(push(token=""))

    assert (caught.value.permanent, caught.value.code) == (True, "push:no-subscription")
    assert fcm.requests == []


async def test_service_account_token_via_jwt_bearer_grant_is_cached(fcm: FakeFcm) -> None:
    now = [1_800_000_000.0]
    http = httpx.AsyncClient(timeout=5)
    tokens = ServiceAccountTokenSource(
        fcm.service_account(), scope=FCM_SCOPE, http=http, clock=lambda: now[0]
    )

    async with channel_for(fcm, tokens) as channel:
        await channel.send(push(key="a"))
        await channel.send(push(key="b"))
        assert len(fcm.token_requests) == 1  # cached

        now[0] += 3600  # expired: a new assertion is signed and exchanged
        await channel.send(push(key="c"))
    await http.aclose()

    assert len(fcm.sent) == 3
    assert len(fcm.token_requests) == 2
    claims = fcm.token_requests[0]
    assert claims["iss"] == f"notifier@{PROJECT}.iam.gserviceaccount.com"
    assert claims["scope"] == FCM_SCOPE
    assert claims["exp"] - claims["iat"] == 3600
    assert [r.headers["Authorization"] for r in fcm.requests if r.path != "/token"] == [
        "Bearer ya29.fake-1",
        "Bearer ya29.fake-1",
        "Bearer ya29.fake-2",
    ]


async def test_refused_token_is_dropped_and_refetched(fcm: FakeFcm) -> None:
    http = httpx.AsyncClient(timeout=5)
    tokens = ServiceAccountTokenSource(fcm.service_account(), scope=FCM_SCOPE, http=http)
    async with channel_for(fcm, tokens) as channel:
        await channel.send(push(key="a"))
        fcm.script(FakeFcm.error(401))
        with pytest.raises(DeliveryError) as caught:
            await channel.send(push(key="b"))
        await channel.send(push(key="b"))
    await http.aclose()

    assert (caught.value.permanent, caught.value.code) == (False, "fcm:UNAUTHENTICATED")
    assert len(fcm.token_requests) == 2


async def test_token_endpoint_failure_is_transient(fcm: FakeFcm) -> None:
    info = {**fcm.service_account(), "token_uri": f"{fcm.url}/token-broken"}
    http = httpx.AsyncClient(timeout=5)
    tokens = ServiceAccountTokenSource(info, scope=FCM_SCOPE, http=http)

    with pytest.raises(DeliveryError) as caught:
        await tokens.token()
    await http.aclose()

    assert (caught.value.permanent, caught.value.code) == (False, "oauth")


def test_project_id_is_required() -> None:
    with pytest.raises(ConfigError, match=r"push\.fcm\.project_id"):
        FcmChannel(
            FcmSettings(),
            token_source=StaticTokenSource("t"),
            http=httpx.AsyncClient(),
        )
