"""BaseLinker's API over HTTP: one endpoint, the method named in a form field.

Every call is ``POST api_url`` with the form fields ``method`` and ``parameters`` (a JSON
object) and the token in the ``X-BLToken`` header. The answer is JSON whose ``status`` is
``SUCCESS`` (the data beside it) or ``ERROR`` with ``error_code`` and ``error_message`` —
usually with HTTP 200 either way.

Requests stay within ``requests_per_minute`` (BaseLinker blocks a token that makes more
than 100 a minute). Transient failures — network errors, HTTP 5xx and 429, BaseLinker's
request-limit errors — are retried up to ``max_retries`` times, after an exponential
backoff or the wait BaseLinker asked for, which holds every later request too. Anything
else raises :class:`~notifier.connectors.errors.ConnectorError` with BaseLinker's code
and message at once. Payloads are returned as parsed JSON; mapping them is the adapter's
job (:mod:`notifier.ingest.baselinker`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable
from typing import Any

import httpx

from notifier.config import BaseLinkerSettings
from notifier.connectors.errors import ConnectorError
from notifier.pacing import Monotonic, RateLimiter, Sleep, backoff

log = logging.getLogger("notifier.connectors.baselinker")

#: Error codes meaning "too many requests": BaseLinker blocks the token for a while.
RATE_LIMIT_CODES = frozenset(
    {"ERROR_REQUESTS_LIMIT", "ERROR_USER_ACCOUNT_BLOCKED", "ERROR_TOO_MANY_REQUESTS"}
)


class BaseLinkerClient:
    """Calls BaseLinker's API methods; ``requests`` counts what went over the wire.

        client = BaseLinkerClient.from_settings(settings.baselinker)
        body = await client.call("getOrderStatusList", {})
    """

    #: BaseLinker counts requests per minute; after a limit error we wait a whole one.
    rate_limit_pause_s = 60.0
    #: Longest backoff between retries of one request (the poller backs off further).
    retry_cap_s = 60.0
    #: getCourierPackagesStatusHistory takes at most this many parcels per call.
    history_batch = 100

    def __init__(self, *, token: str, api_url: str, http: httpx.AsyncClient,
                 limiter: RateLimiter, max_retries: int = 3,
                 backoff_base_s: float = 2.0) -> None:
        self._token = token
        self.api_url = api_url
        self.http = http
        self.limiter = limiter
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.requests = 0

    @classmethod
    def from_settings(cls, settings: BaseLinkerSettings, *, http: httpx.AsyncClient | None = None,
                      monotonic: Monotonic = time.monotonic,
                      sleep: Sleep = asyncio.sleep) -> BaseLinkerClient:
        limiter = RateLimiter(settings.requests_per_minute, monotonic=monotonic, sleep=sleep)
        return cls(token=settings.token.get_secret_value(), api_url=settings.api_url,
                   http=http or httpx.AsyncClient(timeout=settings.timeout_s), limiter=limiter,
                   max_retries=settings.max_retries, backoff_base_s=settings.backoff_base_s)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, parameters: dict[str, Any]) -> dict[str, Any]:
        """The ``SUCCESS`` body of one API method, retrying what waiting can fix."""
        if not self._token:
            raise ConnectorError("no API token configured ([baselinker] token)",
                                 code="NO_TOKEN", method=method)
        for attempt in range(self.max_retries + 1):
            await self.limiter.acquire()
            try:
                return await self._once(method, parameters)
            except ConnectorError as exc:
                if not exc.transient or attempt == self.max_retries:
                    raise
                wait = exc.retry_after or backoff(attempt + 1, base_s=self.backoff_base_s,
                                                  max_s=self.retry_cap_s, jitter=False)
                log.warning("baselinker %s failed (%s); retry %d/%d in %.0f s", method, exc,
                            attempt + 1, self.max_retries, wait)
                self.limiter.pause(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, method: str, parameters: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        form = {"method": method, "parameters": json.dumps(parameters, separators=(",", ":"))}
        try:
            response = await self.http.post(self.api_url, data=form,
                                            headers={"X-BLToken": self._token})
        except httpx.TransportError as exc:
            raise ConnectorError(f"{type(exc).__name__}: {exc}", code="NETWORK", method=method,
                                 transient=True) from exc
        if response.status_code == 429:
            raise ConnectorError("HTTP 429 Too Many Requests", code="HTTP_429", method=method,
                                 transient=True, retry_after=self._retry_after(response))
        if response.status_code >= 500:
            status = response.status_code
            raise ConnectorError(f"HTTP {status}", code=f"HTTP_{status}", method=method,
                                 transient=True)
        try:
            body = response.json()
        except ValueError as exc:
            raise ConnectorError(f"not JSON (HTTP {response.status_code})", code="BAD_RESPONSE",
                                 method=method, transient=response.is_success) from exc
        if not isinstance(body, dict):
            raise ConnectorError("answer is not a JSON object", code="BAD_RESPONSE",
                                 method=method, transient=True)
        if body.get("status") == "SUCCESS":
            return body
        code = str(body.get("error_code") or f"HTTP_{response.status_code}")
        message = str(body.get("error_message") or "no error message")
        limited = code in RATE_LIMIT_CODES
        raise ConnectorError(message, code=code, method=method, transient=limited,
                             retry_after=self.rate_limit_pause_s if limited else None)

    def _retry_after(self, response: httpx.Response) -> float:
        try:
            return max(float(response.headers.get("Retry-After", "")), 1.0)
        except ValueError:
            return self.rate_limit_pause_s

    # -- the methods the connector uses ------------------------------------------------

    async def journal(self, *, last_log_id: int, log_types: Iterable[int]) -> dict[str, Any]:
        return await self.call("getJournalList", {"last_log_id": last_log_id,
                                                  "logs_types": sorted(log_types)})

    async def orders(self, **filters: Any) -> list[Any]:
        """``getOrders``, at most 100 a call: ``order_id=`` or ``date_confirmed_from=``..."""
        orders = (await self.call("getOrders", filters)).get("orders") or []
        return orders if isinstance(orders, list) else []

    async def order_packages(self, order_id: int) -> dict[str, Any]:
        return await self.call("getOrderPackages", {"order_id": order_id})

    async def packages_history(self, package_ids: list[int]) -> dict[str, Any]:
        if len(package_ids) > self.history_batch:
            raise ValueError(f"at most {self.history_batch} parcels per call")
        return await self.call("getCourierPackagesStatusHistory", {"package_ids": package_ids})

    async def order_statuses(self) -> list[dict[str, Any]]:
        statuses = (await self.call("getOrderStatusList", {})).get("statuses") or []
        return [s for s in statuses if isinstance(s, dict)]
