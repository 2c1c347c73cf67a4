from __future__ import annotations

import json
from pathlib import Path

import pytest

from notifier.config import (
    EmailSettings,
    FcmSettings,
    PathSettings,
    PushSettings,
    ServerSettings,
    Settings,
    SmsSettings,
    SmtpSettings,
    TwilioSettings,
    WebPushSettings,
)
from notifier.deliver.email import SmtpEmailChannel
from notifier.deliver.fcm import FcmChannel
from notifier.deliver.files import FileEmailChannel, FilePushChannel, FileSmsChannel
from notifier.deliver.push import WebPushChannel
from notifier.deliver.registry import build_channels, close_channels
from notifier.deliver.service_account import StaticTokenSource
from notifier.deliver.sms import TwilioSmsChannel
from notifier.deliver.vapid import generate_vapid_keys
from notifier.domain import Channel, Outgoing, PushMessage, PushSubscription, SmsMessage
from notifier.errors import ConfigError
from tests.fakes.fcm_server import FakeFcm
from tests.fakes.twilio_server import FakeTwilio

SID = "AC" + "1" * 32


async def test_defaults_write_everything_to_the_outbox(tmp_path: Path) -> None:
    channels = build_channels(Settings(paths=PathSettings(data_dir=tmp_path)))

    assert {kind: type(c) for kind, c in channels.items()} == {
        Channel.EMAIL: FileEmailChannel,
        Channel.SMS: FileSmsChannel,
        Channel.PUSH: FilePushChannel,
    }
    assert all(channel.kind is kind for kind, channel in channels.items())
    await channels[Channel.SMS].send(Outgoing("k", SmsMessage(to="+48500100200", body="hi")))
    assert len(list((tmp_path / "outbox" / "sms").glob("*.json"))) == 1
    await close_channels(channels)


async def test_providers_are_chosen_by_transport(tmp_path: Path) -> None:
    keys = generate_vapid_keys()
    settings = Settings(
        email=EmailSettings(transport="smtp", smtp=SmtpSettings(host="mail.example")),
        sms=SmsSettings(
            transport="twilio",
            twilio=TwilioSettings(account_sid=SID, auth_token="t", from_number="+48221234567"),
        ),
        push=PushSettings(
            transport="webpush", webpush=WebPushSettings(vapid_private_key=keys.private_key)
        ),
    )

    channels = build_channels(settings)

    assert isinstance(channels[Channel.EMAIL], SmtpEmailChannel)
    assert isinstance(channels[Channel.SMS], TwilioSmsChannel)
    assert isinstance(channels[Channel.PUSH], WebPushChannel)
    await close_channels(channels)


async def test_twilio_status_callback_points_at_our_public_url() -> None:
    with FakeTwilio(account_sid=SID, auth_token="t") as twilio:
        settings = Settings(
            server=ServerSettings(public_url="https://notifier.example/"),
            sms=SmsSettings(
                transport="twilio",
                twilio=TwilioSettings(
                    account_sid=SID, auth_token="t", from_number="+4822", api_base_url=twilio.url
                ),
            ),
        )
        channels = build_channels(settings)
        await channels[Channel.SMS].send(Outgoing("k", SmsMessage(to="+48500100200", body="hi")))
        await close_channels(channels)

    assert twilio.created[0]["StatusCallback"] == "https://notifier.example/webhooks/twilio/status"


async def test_fcm_reads_its_service_account_file(tmp_path: Path) -> None:
    account = tmp_path / "sa.json"
    with FakeFcm(project_id="shop-app") as fake:
        account.write_text(json.dumps(fake.service_account()))
        # project_id comes from the service account when the settings leave it empty
        fcm = FcmSettings(service_account_file=str(account), api_base_url=fake.url)
        channels = build_channels(Settings(push=PushSettings(transport="fcm", fcm=fcm)))
        result = await channels[Channel.PUSH].send(
            Outgoing("k", PushMessage(to=PushSubscription(fcm_token="d"), title="T", body="B"))
        )
        await close_channels(channels)

    assert result.provider_id == "projects/shop-app/messages/1"
    assert len(fake.token_requests) == 1


async def test_fcm_token_source_can_be_injected() -> None:
    fcm = FcmSettings(project_id="p")
    settings = Settings(push=PushSettings(transport="fcm", fcm=fcm))
    channels = build_channels(settings, fcm_token_source=StaticTokenSource("t"))

    assert isinstance(channels[Channel.PUSH], FcmChannel)
    await close_channels(channels)


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        (Settings(sms=SmsSettings(transport="twilio")), "sms.twilio.account_sid"),
        (Settings(push=PushSettings(transport="webpush")), "push.webpush.vapid_private_key"),
        (Settings(push=PushSettings(transport="fcm")), "push.fcm.service_account_file"),
        (
            Settings(push=PushSettings(transport="fcm", fcm=FcmSettings(project_id="p"))),
            "push.fcm.service_account_file",
        ),
        (
            Settings(
                push=PushSettings(
                    transport="fcm", fcm=FcmSettings(project_id="p", service_account_file="/nope")
                )
            ),
            "push.fcm.service_account_file",
        ),
    ],
)
def test_incomplete_provider_settings_fail_at_start_up(settings: Settings, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        build_channels(settings)
