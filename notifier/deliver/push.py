"""Web Push (RFC 8030/8291/8292) to browser subscriptions, through pywebpush.

The payload is encrypted for the subscription's ``p256dh``/``auth`` keys and signed with
our VAPID key. A 404/410 means the browser dropped the subscription: that is permanent,
with code ``push:gone``, so the caller deletes it instead of retrying forever.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async

from notifier.config import WebPushSettings
from notifier.deliver.base import (
    ChannelBase,
    key_digest,
    parse_retry_after,
    permanent,
    transient,
)
from notifier.deliver.vapid import application_server_key, load_vapid_private_key
from notifier.domain import Channel, Outgoing, PushMessage, SendResult
from notifier.errors import ConfigError, DeliveryError


def push_payload(outgoing: Outgoing, message: PushMessage) -> dict[str, str]:
    """What the service worker receives; ``tag`` lets it collapse a repeated notification."""
    return {
        "title": message.title,
        "body": message.body,
        "url": message.url,
        "tag": key_digest(outgoing.idempotency_key),
    }


class WebPushChannel(ChannelBase):
    """Sends :class:`PushMessage` to ``message.to.endpoint`` (a browser's push service).

    ``session`` is the aiohttp session to reuse (created on first send otherwise);
    ``ttl_s`` is how long the push service keeps a message for an offline browser.
    """

    kind = Channel.PUSH
    name = "webpush"
    # A push record is at most 4096 bytes; aes128gcm adds an 86-byte header, a 16-byte
    # tag and a 1-byte padding delimiter.
    body_maxlen = 4096 - 86 - 16 - 1

    def __init__(
        self,
        settings: WebPushSettings,
        *,
        session: aiohttp.ClientSession | None = None,
        ttl_s: int = 24 * 3600,
        timeout_s: float = 10.0,
    ) -> None:
        try:
            key = load_vapid_private_key(settings.vapid_private_key.get_secret_value())
        except ValueError as exc:
            raise ConfigError(f"push.webpush.vapid_private_key: {exc}") from exc
        if settings.vapid_public_key and settings.vapid_public_key != application_server_key(key):
            raise ConfigError("push.webpush.vapid_public_key: does not match vapid_private_key")
        self._vapid = Vapid(private_key=key)
        self._subject = settings.vapid_subject
        self._session = session
        self._owns_session = session is None
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s

    async def send(self, outgoing: Outgoing) -> SendResult:
        message = self._message(outgoing, PushMessage)
        sub = message.to
        if not (sub.endpoint and sub.p256dh and sub.auth):
            raise permanent("webpush: subscription lacks endpoint or keys", "push:no-subscription")
        data = json.dumps(push_payload(outgoing, message), ensure_ascii=False)
        self._check_length(len(data.encode()))
        try:
            response: Any = await webpush_async(
                subscription_info={
                    "endpoint": sub.endpoint,
                    "keys": {"p256dh": sub.p256dh, "auth": sub.auth},
                },
                data=data,
                vapid_private_key=self._vapid,
                vapid_claims={"sub": self._subject},  # fresh dict: pywebpush adds aud/exp to it
                ttl=self._ttl_s,
                timeout=self._timeout_s,
                # Same Topic = the push service replaces a still-undelivered earlier copy.
                headers={"Topic": key_digest(outgoing.idempotency_key), "Urgency": "normal"},
                aiohttp_session=self._http(),
            )
        except WebPushException as exc:
            raise _delivery_error(exc) from exc
        except ValueError as exc:  # a malformed p256dh/auth cannot be encrypted for
            raise permanent(f"webpush: {exc}", "push:invalid-subscription") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transient(f"webpush: {exc!r}", "push:network") from exc
        return SendResult(
            provider_id=response.headers.get("Location", ""), detail=str(response.status)
        )

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:  # created here: aiohttp needs the running loop
            self._session = aiohttp.ClientSession()
        return self._session


def _delivery_error(exc: WebPushException) -> DeliveryError:
    status = exc.status_code
    reason = f"webpush: {exc.message}"
    if status is None:
        return permanent(reason, "push:invalid-subscription")
    if status in (404, 410):
        return permanent(reason, "push:gone", suppress="push subscription expired (404/410)")
    if status == 429 or status >= 500:
        return transient(reason, f"push:{status}", parse_retry_after(exc.retry_after))
    if status in (401, 403):  # our VAPID key or claims are refused: fix config, then retry
        return transient(reason, f"push:{status}")
    return permanent(reason, f"push:{status}")
