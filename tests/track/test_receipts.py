"""Provider receipts: each provider's documented sample, signed as the provider signs it,
changes the notification it names; a wrong or missing signature answers 401 and changes
nothing; a resent event is recorded once. Samples and their sources: payloads/SOURCES.md."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.app import create_app
from notifier.clock import FrozenClock
from notifier.config import Settings
from notifier.runtime import Runtime
from notifier.store.db import transaction
from notifier.store.tables import Customer, Notification, Suppression
from notifier.store.track_tables import ReceiptEvent
from tests.conftest import make_settings
from tests.fakes.sns import FakeSns

PAYLOADS = Path(__file__).parent / "payloads"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MAILGUN_KEY = "key-test-signing"
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())


def sample(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


@pytest.fixture
def sns() -> Iterator[FakeSns]:
    with FakeSns() as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, db_url: str, sns: FakeSns) -> Settings:
    public = SENDGRID_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return make_settings(tmp_path, database={"url": db_url}, track={
        "ses": {"enabled": True, "cert_url_pattern": sns.pattern},
        "mailgun": {"signing_key": MAILGUN_KEY},
        "sendgrid": {"verification_key": base64.b64encode(public).decode()},
        "postmark": {"username": "postmark", "password": "hook-pass"}})


@pytest.fixture
def client(runtime: Runtime, clock: FrozenClock) -> TestClient:
    clock.set(NOW)
    return TestClient(create_app(runtime))


def sent_email(runtime: Runtime, *, provider_id: str, recipient: str) -> int:
    with transaction(runtime.sessions) as session:
        customer = Customer(source="api", external_id=recipient, email=recipient)
        session.add(customer)
        session.flush()
        n = Notification(key=f"k:{provider_id}", rule="cart-abandoned", step=0,
                         entity_kind="cart", entity_id=1, customer_id=customer.id,
                         template="cart_reminder", purpose="marketing", channels=["email"],
                         channel="email", recipient=recipient, status="sent",
                         due_at=NOW - timedelta(hours=2), detected_at=NOW - timedelta(hours=2),
                         sent_at=NOW - timedelta(hours=2), provider_id=provider_id)
        session.add(n)
        session.flush()
        assert n.id is not None
        return n.id


def notification(runtime: Runtime, nid: int) -> Notification:
    with runtime.sessions() as session:
        n = session.get(Notification, nid)
        assert n is not None
        return n


def suppressions(runtime: Runtime) -> list[tuple[str, str, str]]:
    with runtime.sessions() as session:
        return sorted((s.channel, s.address, s.purpose)
                      for s in session.exec(select(Suppression)))


def events(runtime: Runtime) -> list[ReceiptEvent]:
    with runtime.sessions() as session:
        return list(session.exec(select(ReceiptEvent).where(
            ReceiptEvent.provider != "mailgun-token")))


# --- Amazon SES through SNS ---------------------------------------------------------


def sns_envelope(sns: FakeSns, message: dict[str, Any], *, version: str = "1",
                 key: rsa.RSAPrivateKey | None = None) -> dict[str, Any]:
    envelope = {k: v for k, v in sample("sns_notification.json").items() if k != "Subject"}
    envelope["Message"] = json.dumps(message)
    return sns.sign(envelope, version=version, key=key)


@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_bounce_with_dsn_suppresses_and_is_recorded_once(
        runtime: Runtime, client: TestClient, sns: FakeSns, version: str) -> None:
    nid = sent_email(runtime, provider_id="custom-message-ID", recipient="jane@example.com")
    body = sns_envelope(sns, sample("ses_bounce_with_dsn.json"), version=version)
    for _ in range(2):  # SNS retries with the same MessageId
        answer = client.post("/webhooks/ses", content=json.dumps(body),
                             headers={"content-type": "text/plain; charset=UTF-8"})
        assert answer.status_code == 200, answer.text
    n = notification(runtime, nid)
    assert n.bounce_kind == "hard" and n.status == "undelivered"
    assert n.bounced_at == datetime(2016, 1, 27, 14, 59, 38, 237000, tzinfo=UTC)
    assert "5.1.1" in (n.reason or "")
    assert suppressions(runtime) == [("email", "jane@example.com", "")]
    [event] = events(runtime)
    assert event.kind == "bounced" and event.status == "5.1.1"


def test_ses_complaint_stops_marketing_email(runtime: Runtime, client: TestClient,
                                             sns: FakeSns) -> None:
    nid = sent_email(runtime, recipient="recipient1@example.com",
                     provider_id="000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000")
    body = sns_envelope(sns, sample("ses_complaint.json"), version="2")
    assert client.post("/webhooks/ses", json=body).status_code == 200
    assert notification(runtime, nid).complained_at is not None
    assert suppressions(runtime) == [("email", "recipient1@example.com", "marketing")]


@pytest.mark.parametrize("tamper", ["signature", "other-key", "cert-url", "missing", "version"])
def test_ses_bad_signature_is_401_and_changes_nothing(
        runtime: Runtime, client: TestClient, sns: FakeSns, tamper: str) -> None:
    nid = sent_email(runtime, provider_id="custom-message-ID", recipient="jane@example.com")
    message = sample("ses_bounce_with_dsn.json")
    body = sns_envelope(sns, message)
    if tamper == "signature":
        body["Message"] = body["Message"].replace("Permanent", "Transient")
    elif tamper == "other-key":
        body = sns_envelope(sns, message, key=rsa.generate_private_key(65537, 2048))
    elif tamper == "cert-url":
        body["SigningCertURL"] = "https://evil.example/cert.pem"
    elif tamper == "missing":
        del body["Signature"]
    else:
        body["SignatureVersion"] = "3"
    answer = client.post("/webhooks/ses", json=body)
    assert answer.status_code == 401, answer.text
    assert notification(runtime, nid).bounced_at is None
    assert suppressions(runtime) == [] and events(runtime) == []


def test_ses_subscription_confirmation_is_confirmed(client: TestClient, sns: FakeSns) -> None:
    body = sns.sign(sample("sns_subscription_confirmation.json"))
    answer = client.post("/webhooks/ses", json=body)
    assert answer.status_code == 200 and answer.json() == {"confirmed": True}
    assert len(sns.confirmations()) == 1
    forged = {**body, "SubscribeURL": "https://evil.example/?Action=ConfirmSubscription"}
    assert client.post("/webhooks/ses", json=forged).status_code == 401
    assert len(sns.confirmations()) == 1


# --- Mailgun ------------------------------------------------------------------------


def mailgun_signed(body: dict[str, Any], *, at: datetime, token: str) -> dict[str, Any]:
    timestamp = str(int(at.timestamp()))
    signature = hmac.new(MAILGUN_KEY.encode(), (timestamp + token).encode(),
                         hashlib.sha256).hexdigest()
    return {**body, "signature": {"timestamp": timestamp, "token": token,
                                  "signature": signature}}


def test_mailgun_permanent_failure_is_a_hard_bounce(runtime: Runtime,
                                                    client: TestClient) -> None:
    nid = sent_email(runtime, recipient="alice@example.com",
                     provider_id="<20130503192659.13651.20287@sandbox-123.mailgun.org>")
    body = mailgun_signed(sample("mailgun_failed_permanent.json"), at=NOW - timedelta(
        seconds=30), token="a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0")
    answer = client.post("/webhooks/mailgun", json=body)
    assert answer.status_code == 200, answer.text
    n = notification(runtime, nid)
    assert n.bounce_kind == "hard" and n.status == "undelivered"
    assert suppressions(runtime) == [("email", "alice@example.com", "")]


def test_mailgun_documented_signature_is_outside_the_window(runtime: Runtime,
                                                            client: TestClient) -> None:
    nid = sent_email(runtime, recipient="alice@example.com",
                     provider_id="20180412195244.1.E9F32C40C2BFD43E@example.com")
    stale = mailgun_signed(sample("mailgun_delivered.json"),
                           at=NOW - timedelta(minutes=6), token="t" * 50)
    answer = client.post("/webhooks/mailgun", json=stale)
    assert answer.status_code == 401 and "window" in answer.text
    assert client.post("/webhooks/mailgun",
                       json=sample("mailgun_delivered.json")).status_code == 401
    unsigned = {k: v for k, v in sample("mailgun_delivered.json").items() if k != "signature"}
    assert client.post("/webhooks/mailgun", json=unsigned).status_code == 401
    assert notification(runtime, nid).delivered_at is None and events(runtime) == []

    fresh = mailgun_signed(sample("mailgun_delivered.json"), at=NOW, token="u" * 50)
    assert client.post("/webhooks/mailgun", json=fresh).status_code == 200
    n = notification(runtime, nid)
    assert n.status == "delivered" and n.delivered_at is not None
    replay = client.post("/webhooks/mailgun", json=fresh)  # the same token again
    assert replay.status_code == 401 and "already used" in replay.text


# --- SendGrid -----------------------------------------------------------------------


def sendgrid_headers(raw: bytes, at: datetime,
                     key: ec.EllipticCurvePrivateKey = SENDGRID_KEY) -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    signature = key.sign(timestamp.encode() + raw, ec.ECDSA(hashes.SHA256()))
    return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
            "content-type": "application/json"}


def test_sendgrid_batch_is_verified_and_applied(runtime: Runtime, client: TestClient) -> None:
    nid = sent_email(runtime, recipient="example@test.com",
                     provider_id="<14c5d75ce93.dfd.64b469@ismtpd-555>")
    raw = (PAYLOADS / "sendgrid_events.json").read_bytes()
    answer = client.post("/webhooks/sendgrid", content=raw, headers=sendgrid_headers(raw, NOW))
    assert answer.status_code == 200 and answer.json() == {"received": 4, "new": 4}
    n = notification(runtime, nid)
    assert n.delivered_at is not None and n.deferred_at is not None
    assert n.bounce_kind == "hard" and n.complained_at is not None
    again = client.post("/webhooks/sendgrid", content=raw, headers=sendgrid_headers(raw, NOW))
    assert again.json() == {"received": 4, "new": 0}
    assert len(events(runtime)) == 4


@pytest.mark.parametrize("tamper", ["body", "key", "missing"])
def test_sendgrid_bad_signature_is_401(runtime: Runtime, client: TestClient,
                                       tamper: str) -> None:
    nid = sent_email(runtime, recipient="example@test.com",
                     provider_id="<14c5d75ce93.dfd.64b469@ismtpd-555>")
    raw = (PAYLOADS / "sendgrid_events.json").read_bytes()
    headers = sendgrid_headers(raw, NOW, ec.generate_private_key(ec.SECP256R1())
                               if tamper == "key" else SENDGRID_KEY)
    if tamper == "body":
        raw = raw.replace(b"5.0.0", b"4.0.0")
    if tamper == "missing":
        headers = {"content-type": "application/json"}
    assert client.post("/webhooks/sendgrid", content=raw, headers=headers).status_code == 401
    assert notification(runtime, nid).bounced_at is None and events(runtime) == []


# --- Postmark -----------------------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_postmark_with_basic_auth(runtime: Runtime, client: TestClient) -> None:
    nid = sent_email(runtime, recipient="john@example.com",
                     provider_id="883953f4-6105-42a2-a16a-77a8eac79483")
    auth = basic("postmark", "hook-pass")
    for name in ("postmark_delivery.json", "postmark_bounce.json"):
        answer = client.post("/webhooks/postmark", json=sample(name), headers=auth)
        assert answer.status_code == 200, answer.text
    n = notification(runtime, nid)
    assert n.delivered_at is not None and n.bounce_kind == "hard"
    assert client.post("/webhooks/postmark", json=sample("postmark_spam_complaint.json"),
                       headers=auth).status_code == 200
    assert suppressions(runtime) == [("email", "john@example.com", ""),
                                     ("email", "john@example.com", "marketing")]


@pytest.mark.parametrize("auth", [{}, basic("postmark", "wrong"), basic("other", "hook-pass"),
                                  {"Authorization": "Bearer hook-pass"}])
def test_postmark_without_credentials_is_401(runtime: Runtime, client: TestClient,
                                             auth: dict[str, str]) -> None:
    nid = sent_email(runtime, recipient="john@example.com",
                     provider_id="883953f4-6105-42a2-a16a-77a8eac79483")
    answer = client.post("/webhooks/postmark", json=sample("postmark_bounce.json"), headers=auth)
    assert answer.status_code == 401
    assert notification(runtime, nid).bounced_at is None and suppressions(runtime) == []
