"""The SMSAPI.pl channel: the real smsapi-client against a local fake of sms.do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notifier.callbacks import report_token, smsapi_number
from notifier.config import SmsapiSettings
from notifier.deliver.base import key_digest
from notifier.deliver.smsapi import SmsapiChannel
from notifier.domain import Outgoing, SmsMessage
from notifier.errors import ConfigError, DeliveryError
from tests.fakes.http import Reply
from tests.fakes.smsapi_server import FakeSmsapi

TOKEN = "smsapi-oauth-token"
KEY = "order-unshipped#0:order:7:sms"


@pytest.fixture
def smsapi() -> Iterator[FakeSmsapi]:
    with FakeSmsapi(token=TOKEN) as fake:
        yield fake


def channel(smsapi: FakeSmsapi, **overrides: object) -> SmsapiChannel:
    fields: dict[str, object] = {"access_token": TOKEN, "sender": "Sklep",
                                 "api_base_url": smsapi.url + "/", **overrides}
    return SmsapiChannel(SmsapiSettings(**fields),  # type: ignore[arg-type]
                         notify_url=lambda idx: f"https://n.example.pl/r/{idx}")


def sms(to: str = "+48 600 100 200", body: str = "Paczka w drodze", *,
        encoding: str = "GSM-7", segments: int = 1, key: str = KEY) -> Outgoing:
    return Outgoing(key, SmsMessage(to=to, body=body, encoding=encoding, segments=segments))


@pytest.mark.parametrize(("given", "expected"), [
    ("+48600100200", "48600100200"), ("600 100 200", "48600100200"),
    ("0048 600-100-200", "48600100200"), ("+49 1512 3456789", "4915123456789"),
    ("12345", None), ("+48 600", None), ("nie numer", None),
])
def test_numbers_normalised_to_polish_e164(given: str, expected: str | None) -> None:
    assert smsapi_number(given) == expected


async def test_parameters_as_smsapi_documents_them(smsapi: FakeSmsapi) -> None:
    result = await channel(smsapi).send(sms())
    [sent] = smsapi.sent
    idx = key_digest(KEY, 64)
    assert sent == {"to": "48600100200", "message": "Paczka w drodze", "from": "Sklep",
                    "encoding": "utf-8", "nounicode": "1", "max_parts": "1", "idx": idx,
                    "check_idx": "1", "details": "1", "format": "json",
                    "notify_url": f"https://n.example.pl/r/{idx}"}
    assert result.provider_id.startswith("100001") and result.status == "queue"
    assert smsapi.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_polish_text_goes_as_unicode_with_its_segments(smsapi: FakeSmsapi) -> None:
    body = "Zamówienie wysłane, źródło: ąęłńóśżź " * 3
    await channel(smsapi).send(sms(body=body, encoding="UCS-2", segments=2))
    [sent] = smsapi.sent
    assert "nounicode" not in sent and sent["max_parts"] == "2"


async def test_a_retry_after_a_lost_answer_is_not_sent_twice(smsapi: FakeSmsapi) -> None:
    first = await channel(smsapi).send(sms())
    again = await channel(smsapi).send(sms())  # SMSAPI refuses the same idx: error 53
    assert len(smsapi.sent) == 1
    assert again.provider_id == f"idx:{key_digest(KEY, 64)}" != first.provider_id


async def test_a_lost_answer_is_unknown_and_the_retry_sends_nothing_new(
        smsapi: FakeSmsapi) -> None:
    slow = channel(smsapi, timeout_s=0.3)
    assert slow.idempotent
    smsapi.answer_late_s = 1.5
    with pytest.raises(DeliveryError) as caught:
        await slow.send(sms())
    assert (caught.value.unknown, caught.value.permanent, caught.value.code) == (
        True, False, "smsapi:timeout")
    retried = await channel(smsapi).send(sms())  # the dispatcher's retry, later
    assert len(smsapi.sent) == 1 and retried.provider_id.startswith("idx:")


async def test_invalid_number_is_permanent_before_any_call(smsapi: FakeSmsapi) -> None:
    with pytest.raises(DeliveryError) as caught:
        await channel(smsapi).send(sms(to="+48 600"))
    assert caught.value.permanent and caught.value.code == "smsapi:invalid-number"
    assert smsapi.requests == []


@pytest.mark.parametrize(("reply", "permanent", "code"), [
    (Reply(200, {"error": 13, "message": "No correct phone numbers"}), True, "smsapi:13"),
    (Reply(200, {"error": 57, "message": "Number on blacklist"}), True, "smsapi:57"),
    (Reply(200, {"error": 14, "message": "Wrong sender"}), False, "smsapi:14"),
    (Reply(200, {"error": 103, "message": "No points"}), False, "smsapi:103"),
    (Reply(200, {"error": 201, "message": "Internal error"}), False, "smsapi:201"),
    (Reply(500, "Internal Server Error"), False, "smsapi:http-500"),
    (Reply(502, "<html>Bad Gateway</html>"), False, "smsapi:http-502"),
    (Reply(400, {"error": 11, "message": "Too long"}), True, "smsapi:11"),
])
async def test_error_codes_mapped(smsapi: FakeSmsapi, reply: Reply, permanent: bool,
                                  code: str) -> None:
    smsapi.script(reply)
    with pytest.raises(DeliveryError) as caught:
        await channel(smsapi).send(sms())
    assert (caught.value.permanent, caught.value.code) == (permanent, code)


async def test_wrong_token_is_transient(smsapi: FakeSmsapi) -> None:
    with pytest.raises(DeliveryError) as caught:
        await channel(smsapi, access_token="wrong").send(sms())
    assert (caught.value.permanent, caught.value.code) == (False, "smsapi:101")


async def test_gateway_unreachable_is_transient() -> None:
    dead = SmsapiChannel(SmsapiSettings(access_token=TOKEN, api_base_url="http://127.0.0.1:9/",
                                        timeout_s=2), notify_url=lambda idx: "")  # type: ignore[arg-type]
    with pytest.raises(DeliveryError) as caught:
        await dead.send(sms())
    assert (caught.value.permanent, caught.value.code) == (False, "smsapi:network")


def test_settings_checked_at_start_up() -> None:
    with pytest.raises(ConfigError, match=r"sms\.smsapi\.access_token"):
        SmsapiChannel(SmsapiSettings(), notify_url=lambda idx: "")
    with pytest.raises(ConfigError, match=r"sms\.smsapi\.sender"):
        SmsapiChannel(SmsapiSettings(access_token=TOKEN, sender="A" * 12),  # type: ignore[arg-type]
                      notify_url=lambda idx: "")


def test_report_token_depends_on_idx_and_secret() -> None:
    assert report_token("a", "s") != report_token("b", "s") != report_token("a", "t")
