"""OAuth2 access tokens for Google APIs from a service account (JWT-bearer grant, RFC 7523).

We sign a short-lived JWT with the account's RSA key, trade it at ``token_uri`` for an
access token and cache that until a minute before it expires::

    tokens = ServiceAccountTokenSource(read_service_account(path), scope=FCM_SCOPE, http=http)
    headers = {"Authorization": f"Bearer {await tokens.token()}"}
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import httpx
import jwt
from cryptography.hazmat.primitives import serialization

from notifier.deliver.base import transient
from notifier.errors import ConfigError


def read_service_account(path: Path) -> dict[str, str]:
    """The service-account JSON downloaded from the Google Cloud / Firebase console."""
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"push.fcm.service_account_file: cannot read {path}: {exc}") from exc
    if not isinstance(info, dict):
        raise ConfigError(f"push.fcm.service_account_file: {path} is not a JSON object")
    return info


class TokenSource(Protocol):
    """Where a channel gets its bearer token; raises a transient DeliveryError on failure."""

    async def token(self) -> str:
        """A bearer token valid now."""

    def invalidate(self) -> None:
        """Forget a token the API refused, so the next call fetches a new one."""


class StaticTokenSource:
    """A fixed token, for the FCM emulator and tests."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def token(self) -> str:
        return self._token

    def invalidate(self) -> None:
        pass


class ServiceAccountTokenSource:
    """Access tokens for a Google service account, cached until a minute before expiry."""

    def __init__(
        self,
        info: Mapping[str, str],
        *,
        scope: str,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
        if missing:
            raise ConfigError(f"push.fcm.service_account_file: missing {', '.join(missing)}")
        try:
            self._key = serialization.load_pem_private_key(info["private_key"].encode(), None)
        except ValueError as exc:
            raise ConfigError(f"push.fcm.service_account_file: bad private_key: {exc}") from exc
        self._scope = scope
        self._info = info
        self._http = http
        self._clock = clock
        self._cached: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:  # one refresh, however many sends are waiting
            if self._cached is None or self._cached[1] <= self._clock():
                self._cached = await self._fetch()
            return self._cached[0]

    def invalidate(self) -> None:
        self._cached = None

    async def _fetch(self) -> tuple[str, float]:
        now = int(self._clock())
        claims = {
            "iss": self._info["client_email"],
            "scope": self._scope,
            "aud": self._info["token_uri"],
            "iat": now,
            "exp": now + 3600,
        }
        key_id = self._info.get("private_key_id")
        assertion = jwt.encode(
            claims, self._key, algorithm="RS256",  # type: ignore[arg-type]
            headers={"kid": key_id} if key_id else None,
        )  # fmt: skip
        grant = {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": assertion,
        }
        try:
            response = await self._http.post(self._info["token_uri"], data=grant)
            response.raise_for_status()
            body = response.json()
            token, lifetime = str(body["access_token"]), float(body.get("expires_in", 3600))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise transient(
                f"no access token from {self._info['token_uri']}: {exc}", "oauth"
            ) from exc
        return token, now + lifetime - 60
