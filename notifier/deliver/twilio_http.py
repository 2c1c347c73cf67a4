"""The HTTP client under the official ``twilio`` client (Twilio's documented extension point).

Three things the generated API cannot express live here: a different base URL (regional
proxy, local fake), the idempotency header of the call in flight, and the ``Retry-After``
of a 429, which ``TwilioRestException`` drops::

    with twilio_call(idempotency_token) as call:
        await client.messages.create_async(...)   # carries I-Twilio-Idempotency-Token
    call.retry_after                              # seconds, after a 429/503
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response

from notifier.deliver.base import parse_retry_after


@dataclass
class TwilioCall:
    idempotency_token: str
    retry_after: float | None = None


# Per task, so concurrent sends through one client each carry their own token.
_current_call: ContextVar[TwilioCall | None] = ContextVar("notifier_twilio_call", default=None)


@contextmanager
def twilio_call(idempotency_token: str) -> Iterator[TwilioCall]:
    call = TwilioCall(idempotency_token)
    token = _current_call.set(call)
    try:
        yield call
    finally:
        _current_call.reset(token)


class TwilioHttpClient(AsyncTwilioHttpClient):
    """Twilio's aiohttp client; construct it inside the running event loop."""

    def __init__(self, *, base_url: str = "", timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._base = urlsplit(base_url.rstrip("/")) if base_url else None

    async def request(  # type: ignore[override]
        self, method: str, url: str, params: Any = None, data: Any = None,
        headers: dict[str, str] | None = None, auth: Any = None,
        timeout: float | None = None, allow_redirects: bool = False,
    ) -> Response:  # fmt: skip
        call = _current_call.get()
        headers = dict(headers or {})
        if call is not None:
            headers["I-Twilio-Idempotency-Token"] = call.idempotency_token
        if auth is not None:  # aiohttp deprecates auth=/BasicAuth; send the header ourselves
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {credentials}"
        # twilio passes timeout=None per request, which aiohttp reads as "no timeout".
        response = await super().request(
            method, self._rebase(url), params, data, headers, None,
            timeout or self.timeout, allow_redirects,
        )  # fmt: skip
        if call is not None and response.status_code in (429, 503):
            call.retry_after = parse_retry_after((response.headers or {}).get("Retry-After"))
        return response

    def _rebase(self, url: str) -> str:
        if self._base is None:
            return url
        parts = urlsplit(url)
        path = self._base.path + parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, ""))
