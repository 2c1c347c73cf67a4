"""A local stand-in for SNS's certificate host: serves a throwaway signing certificate,
signs messages as SNS does (SignatureVersion 1 and 2), and records subscription
confirmations (``GET /?Action=ConfirmSubscription...``)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from notifier.track.sns import string_to_sign
from tests.fakes.http import FakeHttpServer, Recorded, Reply

CERT_PATH = "/SimpleNotificationService-local.pem"


class FakeSns(FakeHttpServer):
    def __init__(self) -> None:
        super().__init__()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(UTC)
        self.cert_pem = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))

    @property
    def pattern(self) -> str:
        return "^" + self.url.replace(".", r"\.") + "/"

    def handle(self, request: Recorded) -> Reply:
        if request.path == CERT_PATH:
            return Reply(body=self.cert_pem)
        return Reply(body="<ConfirmSubscriptionResponse/>")

    def sign(self, message: dict[str, Any], *, version: str = "1",
             key: rsa.RSAPrivateKey | None = None) -> dict[str, Any]:
        """``message`` as SNS would deliver it: certificate URL here, signature fresh."""
        signed = {**message, "SignatureVersion": version,
                  "SigningCertURL": self.url + CERT_PATH}
        if "SubscribeURL" in signed:
            signed["SubscribeURL"] = (self.url + "/?Action=ConfirmSubscription&TopicArn="
                                      + signed["TopicArn"] + "&Token=" + signed["Token"])
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        raw = (key or self.key).sign(string_to_sign(signed), padding.PKCS1v15(), digest)
        signed["Signature"] = base64.b64encode(raw).decode()
        return signed

    def confirmations(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/" and r.method == "GET"]
