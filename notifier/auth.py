"""Bearer API keys for ``/v1/*``, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from notifier.config import Settings


def api_key_dependency(settings: Settings) -> Callable[..., None]:
    bearer = HTTPBearer(auto_error=False)

    def require_key(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        keys = [k.get_secret_value() for k in settings.api.keys]
        given = (creds.credentials if creds else "").encode()
        if not any(hmac.compare_digest(given, k.encode()) for k in keys if k):
            raise HTTPException(401, "missing or invalid API key",
                                headers={"WWW-Authenticate": "Bearer"})

    return require_key
