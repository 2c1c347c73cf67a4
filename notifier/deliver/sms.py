"""SMS through Twilio's Messages API, using the official client's async path.

The client is Twilio's own; only its HTTP client is ours (:mod:`.twilio_http`), so
``api_base_url`` can point it at a regional proxy or a local fake, and every create call
carries an idempotency token derived from the notification's key.
"""

from __future__ import annotations

from typing import ClassVar

import aiohttp
from twilio.base import values
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from notifier.config import TwilioSettings
from notifier.deliver.base import ChannelBase, key_digest, permanent, transient
from notifier.deliver.twilio_http import TwilioHttpClient, twilio_call
from notifier.domain import Channel, Outgoing, SendResult, SmsMessage
from notifier.errors import ConfigError, DeliveryError


class TwilioSmsChannel(ChannelBase):
    """Sends :class:`SmsMessage` from a Messaging Service (preferred) or a number.

    Only errors known to concern the recipient or the message are permanent (and may feed
    suppression); auth, sender and unknown errors are transient, because fixing the
    configuration makes the retry succeed.
    """

    kind = Channel.SMS
    name = "twilio"
    body_maxlen = 1600
    permanent_codes: ClassVar[frozenset[int]] = frozenset(
        {
            21211, 21214, 21217, 21401, 21407, 21408, 21421,  # invalid/unreachable number
            21602, 21617,  # body missing / over 1600 characters
            21610,  # recipient replied STOP
            21612, 21614, 21635,  # not reachable by SMS, not mobile, landline
        }
    )  # fmt: skip

    def __init__(
        self, settings: TwilioSettings, *, status_callback: str = "", timeout_s: float = 15.0
    ) -> None:
        if not settings.account_sid:
            raise ConfigError("sms.twilio.account_sid: required when sms.transport = 'twilio'")
        if not settings.auth_token.get_secret_value():
            raise ConfigError("sms.twilio.auth_token: required when sms.transport = 'twilio'")
        if not (settings.messaging_service_sid or settings.from_number):
            raise ConfigError("sms.twilio: set messaging_service_sid or from_number")
        self._settings = settings
        self._status_callback = status_callback
        self._timeout_s = timeout_s
        self._http: TwilioHttpClient | None = None
        self._client: Client | None = None

    async def send(self, outgoing: Outgoing) -> SendResult:
        message = self._message(outgoing, SmsMessage)
        self._check_length(len(message.body))
        # A Messaging Service picks the sender itself; From is only for a bare number.
        service = self._settings.messaging_service_sid
        with twilio_call(key_digest(outgoing.idempotency_key, 64)) as call:
            try:
                created = await self._twilio().messages.create_async(
                    to=message.to,
                    body=message.body,
                    messaging_service_sid=service or values.unset,
                    from_=values.unset if service else self._settings.from_number,
                    status_callback=self._status_callback or values.unset,
                )
            except TwilioRestException as exc:
                raise self._delivery_error(exc, call.retry_after) from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise transient(f"twilio: {exc!r}", "twilio:network") from exc
        return SendResult(provider_id=created.sid or "", status=str(created.status or "queued"))

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = self._client = None

    def _twilio(self) -> Client:
        # Built on first use: aiohttp sessions must be created inside the running loop.
        if self._client is None:
            s = self._settings
            self._http = TwilioHttpClient(base_url=s.api_base_url, timeout=self._timeout_s)
            self._client = Client(
                s.account_sid,
                s.auth_token.get_secret_value(),
                http_client=self._http,
                # Non-empty, so twilio does not fall back to TWILIO_* in os.environ.
                environment={"TWILIO_ACCOUNT_SID": s.account_sid},
            )
        return self._client

    def _delivery_error(self, exc: TwilioRestException, retry_after: float | None) -> DeliveryError:
        code = exc.code or exc.status
        reason = f"twilio {exc.status} ({code}): {exc.msg}"
        if exc.status == 429 or exc.status >= 500:
            return transient(reason, f"twilio:{code}", retry_after)
        if code == 21610:
            return permanent(reason, f"twilio:{code}",
                             suppress="recipient replied STOP (Twilio 21610)")
        if code in self.permanent_codes:
            return permanent(reason, f"twilio:{code}")
        return transient(reason, f"twilio:{code}")
