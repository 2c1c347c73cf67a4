"""VAPID keys: the P-256 key pair that identifies us to Web Push services (RFC 8292).

Browsers subscribe with the public key (``applicationServerKey``); every push is signed
with the private key. ``notifier push vapid-keys`` prints a fresh pair::

    keys = generate_vapid_keys()
    keys.private_key   # -> push.webpush.vapid_private_key (base64url, 32 bytes)
    keys.public_key    # -> push.webpush.vapid_public_key and the site's subscribe() call
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


@dataclass(frozen=True)
class VapidKeys:
    private_key: str  # base64url of the raw 32-byte scalar, as web-push libraries expect
    private_key_pem: str  # the same key as PKCS#8 PEM, for tools that want a file
    public_key: str  # base64url of the uncompressed point: the applicationServerKey


def generate_vapid_keys() -> VapidKeys:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return VapidKeys(
        private_key=_b64url(key.private_numbers().private_value.to_bytes(32, "big")),
        private_key_pem=pem.decode(),
        public_key=application_server_key(key),
    )


def load_vapid_private_key(value: str) -> ec.EllipticCurvePrivateKey:
    """Accept a PEM, or base64url of the raw scalar or of DER; raise ValueError otherwise."""
    value = value.strip()
    if value.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(value.encode(), password=None)
    else:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except binascii.Error as exc:
            raise ValueError("not base64url") from exc
        if len(raw) == 32:
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        else:
            key = serialization.load_der_private_key(raw, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("VAPID keys must be P-256 (prime256v1) EC keys")
    return key


def application_server_key(key: ec.EllipticCurvePrivateKey) -> str:
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64url(point)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
