"""SMS through SMSAPI.pl (``sms.transport = "smsapi"``), using the official ``smsapi-client``.

Each message is one ``POST sms.do`` with:

- ``to``: the number in Polish E.164 without the ``+`` (``48600100200``); a number that is
  not a valid one (bare nine digits are read as Polish) fails permanently before any call;
- ``from``: the approved sender name, when set;
- ``encoding=utf-8``; ``nounicode=1`` for a GSM-7 body, so the gateway refuses rather than
  switches to UCS-2 and bills more parts; ``max_parts`` = the segments we counted;
- ``idx`` (our key digest) with ``check_idx=1``: SMSAPI refuses a second message with the
  same idx for four days (error 53), so a retry after a lost answer is never sent twice;
- ``notify_url``: our delivery-report callback with a token signed over that idx.

The client is synchronous (requests); it runs in a worker thread. Error codes are mapped
here: the recipient's or the message's fault is permanent, the account's (auth, points,
IP filter, sender name) and the gateway's are transient.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, ClassVar

import requests
from smsapi.client import Client
from smsapi.exception import EndpointException, SmsApiException

from notifier.callbacks import smsapi_number
from notifier.config import SmsapiSettings
from notifier.deliver.base import ChannelBase, key_digest, permanent, transient, unknown
from notifier.domain import Channel, Outgoing, SendResult, SmsMessage
from notifier.errors import ConfigError, DeliveryError

SMSAPI_PL = "https://api.smsapi.pl/"
DUPLICATE_IDX = 53


class SmsapiChannel(ChannelBase):
    """Sends :class:`SmsMessage` through SMSAPI.pl.

    ``notify_url(idx)`` gives the delivery-report URL for a message (the registry builds
    it from ``server.public_url``); ``client`` replaces the real client (tests use the real
    one against a local fake by setting ``api_base_url`` instead).
    """

    kind = Channel.SMS
    name = "smsapi"
    body_maxlen = 918  # SMSAPI's limit: 6 parts of 153 GSM-7 characters (402 in UCS-2)
    # idx + check_idx=1: SMSAPI refuses a second message with the same key (error 53), so
    # a send whose answer was lost is simply retried, never held.
    idempotent: ClassVar[bool] = True
    permanent_codes: ClassVar[frozenset[int]] = frozenset(
        {
            11, 12,  # body too long, empty, or more parts than max_parts
            13, 33,  # no valid number (wrong, landline, or blacklisted)
            17,  # flash with special characters
            57,  # the number is on the account's blacklist (it opted out)
        }
    )  # fmt: skip

    def __init__(self, settings: SmsapiSettings, *, notify_url: Callable[[str], str],
                 client: Client | None = None) -> None:
        if not settings.access_token.get_secret_value():
            raise ConfigError("sms.smsapi.access_token: required when sms.transport = 'smsapi'")
        if len(settings.sender) > 11:
            raise ConfigError("sms.smsapi.sender: at most 11 characters")
        self._settings = settings
        self._notify_url = notify_url
        self._client = client or Client(settings.api_base_url or SMSAPI_PL,
                                        access_token=settings.access_token.get_secret_value())

    async def send(self, outgoing: Outgoing) -> SendResult:
        message = self._message(outgoing, SmsMessage)
        self._check_length(len(message.body))
        to = smsapi_number(message.to)
        if to is None:
            raise permanent(f"smsapi: {message.to!r} is not a valid phone number",
                            "smsapi:invalid-number")
        idx = key_digest(outgoing.idempotency_key, 64)
        params: dict[str, Any] = {
            "to": to, "message": message.body, "encoding": "utf-8", "idx": idx,
            "check_idx": 1, "max_parts": message.segments, "notify_url": self._notify_url(idx),
            "details": 1, "timeout": self._settings.timeout_s,
        }
        if self._settings.sender:
            params["from_"] = self._settings.sender
        if message.encoding == "GSM-7":
            params["nounicode"] = 1
        if self._settings.test:
            params["test"] = 1
        try:
            result = await asyncio.to_thread(self._client.sms.send, **params)
        except SmsApiException as exc:
            code = _code(exc)
            if code == DUPLICATE_IDX:
                # Accepted by an earlier attempt whose answer we lost; its reports carry idx.
                return SendResult(provider_id=f"idx:{idx}", status="queued",
                                  detail="already accepted (idx)")
            raise self._delivery_error(exc, code) from exc
        except requests.ConnectTimeout as exc:
            raise transient(f"smsapi: {exc!r}", "smsapi:network") from exc
        except requests.Timeout as exc:  # sent, no answer: it may have been accepted
            raise unknown(f"smsapi: no answer within {self._settings.timeout_s} s",
                          "smsapi:timeout") from exc
        except requests.RequestException as exc:
            raise transient(f"smsapi: {exc!r}", "smsapi:network") from exc
        sent = next(iter(result.results), None)
        if sent is None or not sent.id:
            raise transient("smsapi: answer without a message id", "smsapi:no-id")
        return SendResult(provider_id=str(sent.id), status=str(sent.status or "QUEUE").lower(),
                          detail=f"{sent.parts or message.segments} part(s), {sent.points} pt")

    def _delivery_error(self, exc: SmsApiException, code: int | None) -> DeliveryError:
        reason = f"smsapi {code}: {_text(exc)}"
        status = getattr(exc, "code", None)
        if isinstance(exc, EndpointException) and code is None and isinstance(status, int):
            # An HTTP error without an SMSAPI error body: the gateway's own trouble.
            return transient(f"smsapi HTTP {status}", f"smsapi:http-{status}")
        if code == 57:
            return permanent(reason, f"smsapi:{code}",
                             suppress="number on the SMSAPI blacklist (opted out)")
        if code in self.permanent_codes:
            return permanent(reason, f"smsapi:{code}")
        return transient(reason, f"smsapi:{code}")


def _code(exc: SmsApiException) -> int | None:
    """SMSAPI's error number, from the parsed answer or from an HTTP error's JSON body."""
    if type(exc) is not EndpointException:  # SendException & co: the answer's "error"
        return _int(exc.code)
    try:
        body = json.loads(exc.message or "")
    except (TypeError, ValueError):
        return None
    return _int(body.get("error")) if isinstance(body, dict) else None


def _text(exc: SmsApiException) -> str:
    try:
        body = json.loads(exc.message or "")
    except (TypeError, ValueError):
        return str(exc.message)[:200]
    return str(body.get("message", body))[:200] if isinstance(body, dict) else str(body)[:200]


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None
