"""The console's signed session cookie and its CSRF token.

The cookie holds ``{"c": csrf token, "u": user id, "v": session version, "t": issued}``,
signed with a key derived from ``server.secret_key`` for this purpose only (a customer's
unsubscribe token can never pass as a session). It is HttpOnly, SameSite=Lax, and
Secure when the console is served over HTTPS. Every visitor has a CSRF token, signed in
or not, so the sign-in form itself is protected; signing in issues a new one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from notifier.track.tokens import BadToken, sign, verify

COOKIE = "notifier_console"
MAX_AGE_S = 12 * 3600
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class SessionData:
    csrf: str
    user_id: int | None = None
    version: int = 0
    issued: int = 0


def session_key(secret: str) -> str:
    return hmac.new(secret.encode(), b"notifier-console-session", hashlib.sha256).hexdigest()


def new_session(user_id: int | None = None, version: int = 0) -> SessionData:
    return SessionData(secrets.token_urlsafe(24), user_id, version, int(time.time()))


def read_session(request: Request, key: str) -> SessionData | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = verify(raw, key)
    except BadToken:
        return None
    issued = data.get("t")
    csrf = data.get("c")
    if not isinstance(issued, int) or not isinstance(csrf, str):
        return None
    if time.time() - issued > MAX_AGE_S:
        return None
    user = data.get("u")
    version = data.get("v", 0)
    return SessionData(csrf, user if isinstance(user, int) else None,
                       version if isinstance(version, int) else 0, issued)


def write_session(response: Response, request: Request, data: SessionData, key: str, *,
                  path: str = "/") -> None:
    payload: dict[str, object] = {"c": data.csrf, "t": data.issued}
    if data.user_id is not None:
        payload.update(u=data.user_id, v=data.version)
    response.set_cookie(COOKIE, sign(payload, key), max_age=MAX_AGE_S, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https",
                        path=path)


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
