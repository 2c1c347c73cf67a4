from __future__ import annotations

import json
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from notifier.deliver.email import message_id
from notifier.deliver.files import FileEmailChannel, FilePushChannel, FileSmsChannel
from notifier.domain import (
    EmailMessage,
    Outgoing,
    PushMessage,
    PushSubscription,
    SmsMessage,
)
from notifier.errors import DeliveryError

FROM = "Sklep <sklep@example.com>"


def email(key: str, subject: str = "Zamówienie wysłane") -> Outgoing:
    message = EmailMessage(
        to="anna@example.org",
        subject=subject,
        text="Paczka w drodze",
        html="<p>Paczka w drodze</p>",
        headers=(("List-Unsubscribe", "<https://s.example/u/1>"),),
    )
    return Outgoing(idempotency_key=key, message=message)


async def test_email_is_a_parseable_eml_with_a_stable_message_id(tmp_path: Path) -> None:
    channel = FileEmailChannel(tmp_path / "email", default_from=FROM)

    result = await channel.send(email("order-1/shipped/email"))

    [path] = (tmp_path / "email").iterdir()
    assert path.suffix == ".eml" and result.provider_id == path.name
    mime = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert mime["From"] == FROM
    assert mime["Subject"] == "Zamówienie wysłane"
    assert mime["Message-ID"] == message_id("order-1/shipped/email", FROM)
    assert mime["List-Unsubscribe"] == "<https://s.example/u/1>"
    assert mime.get_body(("plain",)).get_content().strip() == "Paczka w drodze"
    assert mime.get_body(("html",)).get_content().strip() == "<p>Paczka w drodze</p>"


async def test_a_repeated_send_overwrites_instead_of_duplicating(tmp_path: Path) -> None:
    channel = FileEmailChannel(tmp_path, default_from=FROM)

    first = await channel.send(email("order-1/shipped/email", subject="v1"))
    again = await channel.send(email("order-1/shipped/email", subject="v2"))
    other = await channel.send(email("order-2/shipped/email"))

    assert first.provider_id == again.provider_id != other.provider_id
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([first.provider_id, other.provider_id])  # no temp files left
    latest = message_from_bytes((tmp_path / first.provider_id).read_bytes(), policy=policy.default)
    assert latest["Subject"] == "v2"


@pytest.mark.parametrize("key", ["../../etc/passwd", "a/b", "a:b", "ą ę ł", "", "."])
async def test_file_names_are_sanitised_and_stay_in_the_directory(tmp_path: Path, key: str) -> None:
    outbox = tmp_path / "sms"
    channel = FileSmsChannel(outbox)

    result = await channel.send(Outgoing(key, SmsMessage(to="+48500100200", body="hi")))

    [path] = outbox.iterdir()
    assert path.name == result.provider_id
    assert path.parent == outbox and not path.name.startswith(".")


async def test_similar_keys_never_share_a_file(tmp_path: Path) -> None:
    channel = FileSmsChannel(tmp_path)
    a = await channel.send(Outgoing("order/1", SmsMessage(to="+48500100200", body="a")))
    b = await channel.send(Outgoing("order:1", SmsMessage(to="+48500100200", body="b")))

    assert a.provider_id != b.provider_id


async def test_sms_and_push_are_json(tmp_path: Path) -> None:
    sms = FileSmsChannel(tmp_path / "sms")
    push = FilePushChannel(tmp_path / "push")
    subscription = PushSubscription(endpoint="https://push.example/1", p256dh="k", auth="a")

    await sms.send(Outgoing("s-1", SmsMessage(to="+48500100200", body="Paczka", segments=1)))
    await push.send(Outgoing("p-1", PushMessage(to=subscription, title="T", body="B", url="/o")))

    [sms_file] = (tmp_path / "sms").glob("*.json")
    [push_file] = (tmp_path / "push").glob("*.json")
    assert json.loads(sms_file.read_text()) == {
        "idempotency_key": "s-1",
        "to": "+48500100200",
        "body": "Paczka",
        "encoding": "GSM-7",
        "segments": 1,
        "channel": "sms",
    }
    pushed = json.loads(push_file.read_text())
    assert pushed["to"]["endpoint"] == "https://push.example/1"
    assert (pushed["title"], pushed["body"], pushed["url"], pushed["channel"]) == (
        "T",
        "B",
        "/o",
        "push",
    )


async def test_a_message_for_another_channel_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError) as caught:
        await FileSmsChannel(tmp_path).send(email("k"))
    assert caught.value.permanent is True
    assert not tmp_path.joinpath("k").exists()
