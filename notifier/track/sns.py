"""Amazon SNS HTTP(S) messages: signature verification and subscription confirmation.

SNS signs the canonical string of a message (``Message``, ``MessageId``, ``Subject`` if
present, ``Timestamp``, ``TopicArn``, ``Type`` for notifications; ``SubscribeURL`` and
``Token`` instead of ``Subject`` for (un)subscription confirmations; each as ``name\\n
value\\n``) with RSA: SHA1 for ``SignatureVersion`` 1, SHA256 for 2. The certificate is
fetched from ``SigningCertURL``, which must match ``cert_url_pattern`` (by default
``https://sns.<region>.amazonaws.com/``) so nobody can sign with a certificate of their
own; certificates are cached per URL for the life of the verifier.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                     "TopicArn", "Type")
CONFIRMATION_TYPES = ("SubscriptionConfirmation", "UnsubscribeConfirmation")


class SnsError(ValueError):
    """The message is not a valid, correctly signed SNS message."""


def string_to_sign(message: dict[str, Any]) -> bytes:
    keys = CONFIRMATION_KEYS if message.get("Type") in CONFIRMATION_TYPES else NOTIFICATION_KEYS
    parts = []
    for key in keys:
        if key in message and message[key] is not None:
            parts.append(f"{key}\n{message[key]}\n")
        elif key != "Subject":
            raise SnsError(f"{key} missing")
    return "".join(parts).encode()


class SnsVerifier:
    """Verifies SNS messages; ``client`` makes the HTTP client that fetches certificates
    and confirms subscriptions (tests hand one reaching a local server)."""

    def __init__(self, *, cert_url_pattern: str,
                 client: Callable[[], httpx.AsyncClient] | None = None) -> None:
        self.pattern = re.compile(cert_url_pattern)
        self.client = client or (lambda: httpx.AsyncClient(trust_env=False, timeout=10))
        self.certs: dict[str, rsa.RSAPublicKey] = {}

    def _allowed(self, url: str) -> bool:
        return bool(url) and self.pattern.match(url) is not None

    async def _key(self, url: str) -> rsa.RSAPublicKey:
        if url not in self.certs:
            try:
                async with self.client() as client:
                    response = await client.get(url)
                response.raise_for_status()
                key = x509.load_pem_x509_certificate(response.content).public_key()
            except (httpx.HTTPError, ValueError) as exc:
                raise SnsError(f"signing certificate unavailable: {exc}") from exc
            if not isinstance(key, rsa.RSAPublicKey):
                raise SnsError("signing certificate is not RSA")
            self.certs[url] = key
        return self.certs[url]

    async def verify(self, message: dict[str, Any]) -> None:
        version = str(message.get("SignatureVersion", ""))
        if version not in ("1", "2"):
            raise SnsError(f"SignatureVersion {version!r} unsupported")
        url = str(message.get("SigningCertURL", ""))
        if not self._allowed(url):
            raise SnsError("SigningCertURL is not an SNS certificate URL")
        try:
            signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        except binascii.Error as exc:
            raise SnsError("Signature is not base64") from exc
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        key = await self._key(url)
        try:
            key.verify(signature, string_to_sign(message), padding.PKCS1v15(), digest)
        except InvalidSignature as exc:
            raise SnsError("signature does not match") from exc

    async def confirm(self, message: dict[str, Any]) -> None:
        """Visit ``SubscribeURL`` (only an SNS one) to confirm the subscription."""
        url = str(message.get("SubscribeURL", ""))
        if not self._allowed(url):
            raise SnsError("SubscribeURL is not an SNS URL")
        try:
            async with self.client() as client:
                (await client.get(url)).raise_for_status()
        except httpx.HTTPError as exc:
            raise SnsError(f"subscription confirmation failed: {exc}") from exc
