"""The BaseLinker HTTP client against the local fake: request format, errors, rate limits.
Time is a fake monotonic clock; nothing sleeps for real."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from notifier.config import BaseLinkerSettings
from notifier.connectors.baselinker_client import BaseLinkerClient
from notifier.connectors.errors import ConnectorError
from notifier.pacing import RateLimiter, backoff
from tests.baselinker.conftest import TOKEN, FakeTime
from tests.fakes.baselinker import FakeBaseLinker
from tests.fakes.http import Reply


def client_for(bl: FakeBaseLinker, fake_time: FakeTime, **overrides: object) -> BaseLinkerClient:
    values: dict[str, object] = {"token": TOKEN, "api_url": bl.api_url, **overrides}
    config = BaseLinkerSettings.model_validate(values)
    return BaseLinkerClient.from_settings(config, monotonic=fake_time.monotonic,
                                          sleep=fake_time.sleep)


@pytest.fixture
async def client(bl: FakeBaseLinker, fake_time: FakeTime) -> AsyncIterator[BaseLinkerClient]:
    built = client_for(bl, fake_time, max_retries=2)
    yield built
    await built.aclose()


async def test_request_is_a_form_post_with_method_parameters_and_token(
    client: BaseLinkerClient, bl: FakeBaseLinker
) -> None:
    body = await client.call("getOrderStatusList", {})
    assert body["status"] == "SUCCESS" and body["statuses"][0]["name"] == "Nowe"
    await client.journal(last_log_id=41, log_types=[18, 1])
    request = bl.requests[-1]
    assert (request.method, request.path) == ("POST", "/connector.php")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["X-BLToken"] == TOKEN
    form = request.form()
    assert form["method"] == "getJournalList"
    assert json.loads(form["parameters"]) == {"last_log_id": 41, "logs_types": [1, 18]}


async def test_error_answer_is_raised_with_baselinkers_code_and_message(
    bl: FakeBaseLinker, fake_time: FakeTime
) -> None:
    wrong = BaseLinkerClient.from_settings(
        BaseLinkerSettings(token="wrong", api_url=bl.api_url), monotonic=fake_time.monotonic,
        sleep=fake_time.sleep)
    with pytest.raises(ConnectorError) as caught:
        await wrong.call("getOrders", {})
    await wrong.aclose()
    error = caught.value
    assert (error.code, error.message, error.method, error.transient) == (
        "ERROR_BAD_TOKEN", "Invalid user token", "getOrders", False)
    assert str(error) == "getOrders: [ERROR_BAD_TOKEN] Invalid user token"
    assert len(bl.requests) == 1 and fake_time.sleeps == []  # not retried


async def test_request_limit_error_waits_a_minute_then_retries(
    client: BaseLinkerClient, bl: FakeBaseLinker, fake_time: FakeTime
) -> None:
    bl.script(FakeBaseLinker.error("ERROR_REQUESTS_LIMIT", "Query limit exceeded"))
    assert await client.orders(order_id=1) == []
    assert fake_time.sleeps == [60.0]
    assert len(bl.requests) == 2


async def test_http_429_honours_retry_after_and_5xx_backs_off(
    client: BaseLinkerClient, bl: FakeBaseLinker, fake_time: FakeTime
) -> None:
    bl.script(Reply(429, "slow down", {"Retry-After": "7"}), Reply(503, "maintenance"))
    await client.order_statuses()
    assert fake_time.sleeps == [7.0, 4.0]  # Retry-After, then base 2 s x 2^1
    assert client.requests == 3


async def test_retries_run_out_into_a_transient_error(
    client: BaseLinkerClient, bl: FakeBaseLinker, fake_time: FakeTime
) -> None:
    bl.script(*[FakeBaseLinker.error("ERROR_USER_ACCOUNT_BLOCKED", "Account blocked")] * 3)
    with pytest.raises(ConnectorError) as caught:
        await client.order_statuses()
    assert (caught.value.code, caught.value.transient) == ("ERROR_USER_ACCOUNT_BLOCKED", True)
    assert len(bl.requests) == 3 and fake_time.sleeps == [60.0, 60.0]


async def test_not_json_and_network_errors_are_transient(
    bl: FakeBaseLinker, fake_time: FakeTime
) -> None:
    client = client_for(bl, fake_time, max_retries=0)
    bl.script(Reply(200, b"<html>maintenance</html>"))
    with pytest.raises(ConnectorError, match="BAD_RESPONSE") as caught:
        await client.order_statuses()
    assert caught.value.transient
    await client.aclose()
    gone = client_for(bl, fake_time, max_retries=0, api_url="http://127.0.0.1:9/connector.php")
    with pytest.raises(ConnectorError, match="NETWORK"):
        await gone.order_statuses()
    await gone.aclose()


async def test_requests_stay_under_the_per_minute_budget(
    bl: FakeBaseLinker, fake_time: FakeTime
) -> None:
    client = client_for(bl, fake_time, requests_per_minute=2)
    for _ in range(5):
        await client.order_statuses()
    await client.aclose()
    assert len(bl.requests) == 5
    assert fake_time.sleeps == [60.0, 60.0]  # requests 3 and 5 wait for the window


async def test_rate_limiter_sliding_window_and_pause() -> None:
    fake = FakeTime()
    limiter = RateLimiter(3, monotonic=fake.monotonic, sleep=fake.sleep)
    for offset in (0.0, 10.0, 20.0):
        fake.t = 1_000.0 + offset
        await limiter.acquire()
    await limiter.acquire()  # the 4th waits until the 1st leaves the minute
    assert fake.sleeps == [40.0] and fake.t == 1_060.0
    limiter.pause(30.0)
    assert limiter.wait_needed() == 30.0
    assert backoff(1, base_s=2, max_s=60, jitter=False) == 2
    assert backoff(11, base_s=2, max_s=60, jitter=False) == 60
