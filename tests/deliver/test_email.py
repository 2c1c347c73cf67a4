from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from notifier.config import SmtpSettings
from notifier.deliver.email import SmtpEmailChannel, message_id
from notifier.domain import Channel, EmailMessage, Outgoing, SmsMessage
from notifier.errors import DeliveryError
from tests.fakes.smtp import SmtpSink
from tests.fakes.tls import SelfSignedCert

FROM = "Sklep <sklep@example.com>"


def email(key: str = "order-1/shipped/email", **overrides: object) -> Outgoing:
    fields: dict[str, object] = {
        "to": "Anna Nowak <anna@example.org>",
        "subject": "Twoje zamówienie zostało wysłane",
        "text": "Cześć Anno, paczka jest w drodze.",
        "html": "<p>Cześć Anno, <b>paczka</b> jest w drodze.</p>",
        **overrides,
    }
    return Outgoing(idempotency_key=key, message=EmailMessage(**fields))  # type: ignore[arg-type]


def settings_for(sink: SmtpSink, **overrides: object) -> SmtpSettings:
    fields: dict[str, object] = {"starttls": False, "timeout_s": 5, "pool_size": 2, **overrides}
    return SmtpSettings(host=sink.host, port=sink.port, **fields)  # type: ignore[arg-type]


@pytest.fixture
async def channel(smtp_sink: SmtpSink) -> AsyncIterator[SmtpEmailChannel]:
    async with SmtpEmailChannel(settings_for(smtp_sink), default_from=FROM) as channel:
        yield channel


async def test_message_arrives_once_with_headers_and_both_parts(
    channel: SmtpEmailChannel, smtp_sink: SmtpSink
) -> None:
    unsubscribe = (
        ("List-Unsubscribe", "<https://shop.example/u/abc>, <mailto:unsub@example.com>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    )
    result = await channel.send(email(headers=unsubscribe))

    assert channel.kind is Channel.EMAIL
    [received] = smtp_sink.messages
    mime = received.message
    assert received.mail_from == "sklep@example.com"
    assert received.rcpt_tos == ("anna@example.org",)
    assert mime["From"] == FROM
    assert mime["To"] == "Anna Nowak <anna@example.org>"
    assert mime["Subject"] == "Twoje zamówienie zostało wysłane"
    assert mime["Message-ID"] == result.provider_id == message_id("order-1/shipped/email", FROM)
    assert mime["List-Unsubscribe"] == unsubscribe[0][1]
    assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mime.get_body(("plain",)).get_content().strip() == "Cześć Anno, paczka jest w drodze."
    assert "<b>paczka</b>" in mime.get_body(("html",)).get_content()
    assert result.status == "sent"


async def test_message_id_is_stable_per_idempotency_key(
    channel: SmtpEmailChannel, smtp_sink: SmtpSink
) -> None:
    first = await channel.send(email("k-1"))
    again = await channel.send(email("k-1"))
    other = await channel.send(email("k-2"))

    assert first.provider_id == again.provider_id != other.provider_id
    assert first.provider_id.endswith("@example.com>")
    assert [m.message["Message-ID"] for m in smtp_sink.messages] == [
        first.provider_id,
        first.provider_id,
        other.provider_id,
    ]


async def test_sequential_messages_reuse_one_connection(
    channel: SmtpEmailChannel, smtp_sink: SmtpSink
) -> None:
    for n in range(5):
        await channel.send(email(f"k-{n}"))

    assert len(smtp_sink.messages) == 5
    assert smtp_sink.connection_count == 1


async def test_concurrent_sends_never_open_more_than_pool_size(
    channel: SmtpEmailChannel, smtp_sink: SmtpSink
) -> None:
    await asyncio.gather(*(channel.send(email(f"k-{n}")) for n in range(8)))

    assert len(smtp_sink.messages) == 8
    assert 1 <= smtp_sink.connection_count <= 2  # pool_size


async def test_dropped_connection_is_replaced_transparently(
    channel: SmtpEmailChannel, smtp_sink: SmtpSink
) -> None:
    await channel.send(email("before"))
    smtp_sink.stop()  # drops the pooled session
    smtp_sink.start()

    await channel.send(email("after"))

    assert [m.message["Message-ID"] for m in smtp_sink.messages] == [
        message_id("before", FROM),
        message_id("after", FROM),
    ]
    assert smtp_sink.connection_count == 2


async def test_server_down_is_transient_and_up_again_sends(
    channel: SmtpEmailChannel, smtp_sink: SmtpSink
) -> None:
    await channel.send(email("warm-up"))
    smtp_sink.stop()

    with pytest.raises(DeliveryError) as caught:
        await channel.send(email("while-down"))
    assert caught.value.permanent is False
    assert caught.value.code == "smtp-connection"

    smtp_sink.start()
    await channel.send(email("while-down"))
    assert [m.message["Message-ID"] for m in smtp_sink.messages][-1] == message_id(
        "while-down", FROM
    )


@pytest.mark.parametrize(
    ("stage", "code", "permanent", "expected_code"),
    [
        ("RCPT", 550, True, "smtp-5xx:550"),
        ("DATA", 554, True, "smtp-5xx:554"),
        ("RCPT", 451, False, "smtp-4xx:451"),
        ("DATA", 452, False, "smtp-4xx:452"),
        ("MAIL", 553, False, "smtp-config:553"),  # our sender refused: fix config, retry
    ],
)
async def test_smtp_replies_map_to_delivery_errors(
    channel: SmtpEmailChannel,
    smtp_sink: SmtpSink,
    stage: str,
    code: int,
    permanent: bool,
    expected_code: str,
) -> None:
    smtp_sink.fail_next(stage, code, "5.1.1 no such user" if code >= 500 else "4.3.0 try later")

    with pytest.raises(DeliveryError) as caught:
        await channel.send(email())

    assert (caught.value.permanent, caught.value.code) == (permanent, expected_code)
    # The session survives a refusal (RSET) and carries the next message.
    await channel.send(email("next"))
    assert len(smtp_sink.messages) == 1
    assert smtp_sink.connection_count == 1


async def test_unresponsive_server_times_out_as_transient() -> None:
    with socket.socket() as silent:  # accepts connections, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        settings = SmtpSettings(host="127.0.0.1", port=port, starttls=False, timeout_s=0.2)
        async with SmtpEmailChannel(settings, default_from=FROM) as channel:
            with pytest.raises(DeliveryError) as caught:
                await channel.send(email())

    assert caught.value.permanent is False
    assert caught.value.code == "smtp-timeout"


async def test_starttls_with_auth(tmp_path: Path) -> None:
    cert = SelfSignedCert.create(tmp_path)
    sink = SmtpSink(tls=cert.server_context(), credentials=("shop", "s3cret"))
    sink.start()
    try:
        settings = settings_for(sink, starttls=True, username="shop", password="s3cret")
        async with SmtpEmailChannel(
            settings, default_from=FROM, tls_context=cert.client_context()
        ) as channel:
            await channel.send(email())
    finally:
        sink.stop()

    [received] = sink.messages
    assert received.authenticated_as == "shop"


async def test_wrong_password_is_transient(tmp_path: Path) -> None:
    cert = SelfSignedCert.create(tmp_path)
    sink = SmtpSink(tls=cert.server_context(), credentials=("shop", "s3cret"))
    sink.start()
    try:
        settings = settings_for(sink, starttls=True, username="shop", password="wrong")
        async with SmtpEmailChannel(
            settings, default_from=FROM, tls_context=cert.client_context()
        ) as channel:
            with pytest.raises(DeliveryError) as caught:
                await channel.send(email())
    finally:
        sink.stop()

    assert caught.value.permanent is False
    assert caught.value.code == "smtp-config:535"


async def test_implicit_tls(tmp_path: Path) -> None:
    cert = SelfSignedCert.create(tmp_path)
    sink = SmtpSink(tls=cert.server_context(), implicit_tls=True)
    sink.start()
    try:
        settings = settings_for(sink, use_tls=True)
        async with SmtpEmailChannel(
            settings, default_from=FROM, tls_context=cert.client_context()
        ) as channel:
            await channel.send(email())
    finally:
        sink.stop()

    assert len(sink.messages) == 1


async def test_refuses_a_message_of_another_channel(channel: SmtpEmailChannel) -> None:
    with pytest.raises(DeliveryError) as caught:
        await channel.send(Outgoing("k", SmsMessage(to="+48500000000", body="hi")))
    assert caught.value.permanent is True
