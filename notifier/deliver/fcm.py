"""Push to app/browser tokens through Firebase Cloud Messaging's HTTP v1 API.

Each call carries an OAuth2 bearer token from an injected
:class:`~notifier.deliver.service_account.TokenSource`: in production a
``ServiceAccountTokenSource`` with :data:`FCM_SCOPE`, in tests or with the emulator a
``StaticTokenSource``.
"""

from __future__ import annotations

import json

import httpx

from notifier.config import FcmSettings
from notifier.deliver.base import ChannelBase, parse_retry_after, permanent, transient
from notifier.deliver.push import push_payload
from notifier.deliver.service_account import TokenSource
from notifier.domain import Channel, Outgoing, PushMessage, SendResult
from notifier.errors import ConfigError, DeliveryError

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


class FcmChannel(ChannelBase):
    """Sends :class:`PushMessage` to ``message.to.fcm_token``; owns and closes ``http``."""

    kind = Channel.PUSH
    name = "fcm"
    body_maxlen = 4000  # FCM refuses messages over 4096 bytes; keep room for the envelope

    def __init__(
        self, settings: FcmSettings, *, token_source: TokenSource, http: httpx.AsyncClient
    ) -> None:
        if not settings.project_id:
            raise ConfigError("push.fcm.project_id: required when push.transport = 'fcm'")
        base = (settings.api_base_url or "https://fcm.googleapis.com").rstrip("/")
        self._url = f"{base}/v1/projects/{settings.project_id}/messages:send"
        self._tokens = token_source
        self._http = http

    async def send(self, outgoing: Outgoing) -> SendResult:
        message = self._message(outgoing, PushMessage)
        if not message.to.fcm_token:
            raise permanent("fcm: no device token", "push:no-subscription")
        data = push_payload(outgoing, message)
        self._check_length(len(json.dumps(data).encode()))
        body = {
            "message": {
                "token": message.to.fcm_token,
                "notification": {"title": message.title, "body": message.body},
                "data": data,
                # A resend replaces the earlier copy on the device instead of stacking.
                "android": {"collapse_key": data["tag"]},
                "apns": {"headers": {"apns-collapse-id": data["tag"]}},
            }
        }
        token = await self._tokens.token()
        try:
            response = await self._http.post(
                self._url, json=body, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise transient(f"fcm: {exc!r}", "fcm:network") from exc
        if response.status_code == 401:
            self._tokens.invalidate()
        if response.status_code != 200:
            raise _delivery_error(response)
        # {"name": "projects/<id>/messages/<message id>"}
        return SendResult(provider_id=str(_json(response).get("name", "")))

    async def aclose(self) -> None:
        await self._http.aclose()


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _delivery_error(response: httpx.Response) -> DeliveryError:
    """UNREGISTERED/404 drops the token; credentials, quota and outages are transient."""
    error = _json(response).get("error") or {}
    details = error.get("details") or [{}]
    code = next((d["errorCode"] for d in details if "errorCode" in d), error.get("status", ""))
    code = code or str(response.status_code)
    reason = f"fcm {response.status_code} {code}: {error.get('message', response.text[:200])}"
    status = response.status_code
    if code == "UNREGISTERED" or status == 404:
        return permanent(reason, "push:gone", suppress="push token unregistered (FCM)")
    if code == "SENDER_ID_MISMATCH":  # the token belongs to another Firebase project
        return permanent(reason, f"fcm:{code}")
    if status in (401, 403, 429) or status >= 500:  # 401/403: our credentials or IAM role
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return transient(reason, f"fcm:{code}", retry_after)
    return permanent(reason, f"fcm:{code}")
