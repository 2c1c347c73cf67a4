"""Build the channel for each :class:`Channel` from settings, once, at start-up.

    channels = build_channels(settings)
    result = await channels[outgoing.message.channel].send(outgoing)
    ...
    await close_channels(channels)

Missing or invalid provider settings raise :class:`ConfigError` here, naming the key,
rather than at the first send. Connections are opened lazily on first use.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

import httpx

from notifier.callbacks import SMSAPI_REPORT_PATH, TWILIO_STATUS_PATH, report_token
from notifier.config import FcmSettings, Settings
from notifier.deliver.base import ChannelBase
from notifier.deliver.email import SmtpEmailChannel
from notifier.deliver.fcm import FCM_SCOPE, FcmChannel
from notifier.deliver.files import FileEmailChannel, FilePushChannel, FileSmsChannel
from notifier.deliver.push import WebPushChannel
from notifier.deliver.service_account import (
    ServiceAccountTokenSource,
    TokenSource,
    read_service_account,
)
from notifier.deliver.shopify_admin import ShopifyAdminChannel
from notifier.deliver.sms import TwilioSmsChannel
from notifier.deliver.smsapi import SmsapiChannel
from notifier.deliver.webhook import WebhookChannel
from notifier.domain import Channel, Integration
from notifier.errors import ConfigError


def build_channels(
    settings: Settings,
    *,
    smtp_tls_context: ssl.SSLContext | None = None,
    fcm_http: httpx.AsyncClient | None = None,
    fcm_token_source: TokenSource | None = None,
) -> dict[Channel, ChannelBase]:
    """One channel per kind, chosen by ``email.transport``, ``sms.transport``, ``push.transport``.

    The keyword arguments inject I/O edges: a TLS context for a private CA, and the HTTP
    client and token source FCM uses (tests, the FCM emulator).
    """
    outbox = settings.paths.outbox_dir
    email = settings.email
    channels: dict[Channel, ChannelBase] = {}

    if email.transport == "smtp":
        channels[Channel.EMAIL] = SmtpEmailChannel(
            email.smtp, default_from=email.from_, tls_context=smtp_tls_context
        )
    else:
        channels[Channel.EMAIL] = FileEmailChannel(outbox / "email", default_from=email.from_)

    if settings.sms.transport == "twilio":
        callback = settings.server.public_url.rstrip("/") + TWILIO_STATUS_PATH
        channels[Channel.SMS] = TwilioSmsChannel(settings.sms.twilio, status_callback=callback)
    elif settings.sms.transport == "smsapi":
        channels[Channel.SMS] = _smsapi_channel(settings)
    else:
        channels[Channel.SMS] = FileSmsChannel(outbox / "sms")

    push = settings.push
    if push.transport == "webpush":
        channels[Channel.PUSH] = WebPushChannel(push.webpush)
    elif push.transport == "fcm":
        channels[Channel.PUSH] = _fcm_channel(settings.push.fcm, fcm_http, fcm_token_source)
    else:
        channels[Channel.PUSH] = FilePushChannel(outbox / "push")
    return channels


def _smsapi_channel(settings: Settings) -> SmsapiChannel:
    base = settings.server.public_url.rstrip("/") + SMSAPI_REPORT_PATH
    secret = settings.server.secret_key.get_secret_value()
    return SmsapiChannel(settings.sms.smsapi,
                         notify_url=lambda idx: f"{base}/{report_token(idx, secret)}")


def _fcm_channel(
    settings: FcmSettings, http: httpx.AsyncClient | None, token_source: TokenSource | None
) -> FcmChannel:
    account: dict[str, str] = {}
    if token_source is None:
        if not settings.service_account_file:
            raise ConfigError("push.fcm.service_account_file: required when push.transport = 'fcm'")
        account = read_service_account(Path(settings.service_account_file))
    if not settings.project_id and account.get("project_id"):
        settings = settings.model_copy(update={"project_id": account["project_id"]})
    if not settings.project_id:
        raise ConfigError("push.fcm.project_id: required when push.transport = 'fcm'")
    http = http or httpx.AsyncClient(timeout=10.0)
    if token_source is None:
        token_source = ServiceAccountTokenSource(account, scope=FCM_SCOPE, http=http)
    return FcmChannel(settings, token_source=token_source, http=http)


def build_integrations(settings: Settings, *, clock: Callable[[], datetime] | None = None,
                       client: httpx.AsyncClient | None = None
                       ) -> dict[Integration, ChannelBase]:
    """The channels to systems rather than customers: the signed outbound webhooks (always;
    a row for an unconfigured receiver fails permanently, naming it) and, when enabled,
    the Shopify Admin API. ``clock`` stamps webhook signatures."""
    extra: dict[str, object] = {"client": client}
    if clock is not None:
        extra["clock"] = clock
    out: dict[Integration, ChannelBase] = {
        Integration.WEBHOOK: WebhookChannel.from_settings(settings, **extra)}
    if settings.offers.shopify.enabled:
        out[Integration.SHOPIFY] = ShopifyAdminChannel(settings.offers.shopify, client=client)
    return out


async def close_channels(channels: Mapping[str, ChannelBase]) -> None:
    await asyncio.gather(*(channel.aclose() for channel in channels.values()))
