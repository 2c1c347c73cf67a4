"""A local Web Push service and the browser-side keys to prove a push was encrypted for them.

    browser = PushClient.create()
    with FakePushService() as service:
        subscription = browser.subscription(service.endpoint("device-1"))
        ...                                              # send through WebPushChannel
        [request] = service.requests
        browser.decrypt(request.body)                    # -> the JSON the channel sent
        verify_vapid(request.headers["Authorization"], audience=service.url)
        service.script(Reply(410))                       # the browser unsubscribed

``decrypt`` succeeds only with the subscription's private key (RFC 8291), which is the
proof that the channel encrypted for the right browser.
"""

from __future__ import annotations

import base64
import itertools
import os
from dataclasses import dataclass
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from notifier.domain import PushSubscription
from tests.fakes.http import FakeHttpServer, Recorded, Reply


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class PushClient:
    """What a browser holds for one subscription: its ECDH key pair and auth secret."""

    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes

    @classmethod
    def create(cls) -> PushClient:
        return cls(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    def subscription(self, endpoint: str) -> PushSubscription:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return PushSubscription(
            endpoint=endpoint, p256dh=_b64url(point), auth=_b64url(self.auth_secret)
        )

    def decrypt(self, body: bytes) -> bytes:
        """Only the holder of the subscription's private key can do this (RFC 8291)."""
        return http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm"
        )


@dataclass(frozen=True)
class VapidToken:
    claims: dict[str, Any]
    public_key: str  # the k= parameter: the sender's applicationServerKey


def verify_vapid(authorization: str, *, audience: str) -> VapidToken:
    """Check an RFC 8292 ``vapid t=<JWT>, k=<key>`` header; raises jwt errors when invalid."""
    scheme, _, params = authorization.partition(" ")
    assert scheme.lower() == "vapid", authorization
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    point = _unb64url(fields["k"])
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    claims = jwt.decode(fields["t"], key=key, algorithms=["ES256"], audience=audience)
    return VapidToken(claims=claims, public_key=fields["k"])


class FakePushService(FakeHttpServer):
    """Accepts pushes on ``POST /push/<id>`` with 201 and a ``Location``, like real services."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)

    def endpoint(self, device: str) -> str:
        return f"{self.url}/push/{device}"

    def handle(self, request: Recorded) -> Reply:
        if request.method != "POST" or not request.path.startswith("/push/"):
            return Reply(404)
        if (scripted := self.take_scripted()) is not None:
            return scripted
        return Reply(201, headers={"Location": f"{self.url}/m/{next(self._ids)}"})
