"""Signed outbound webhooks (``offer.issued``, ``escalation.created``, pool alerts, ...).

Each call is an outbox row like a customer message: the dispatcher claims it, writes the
attempt, calls :meth:`WebhookChannel.send` and lets the one failure policy decide what
follows. The receiver (``offers`` or ``escalation``) is looked up in the settings at send
time, so a fixed URL or secret applies to what is still queued. A 2xx is success; 5xx,
408, 425 and 429 are transient (``Retry-After`` honoured); any other status is permanent.
``X-Notifier-Delivery`` carries the row id, the same on every retry, so the receiver drops
a second copy: a lost answer is retried, never held.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar

import httpx

from notifier.config import OutboundWebhookSettings, Settings
from notifier.deliver.base import ChannelBase, parse_retry_after, permanent, transient
from notifier.deliver.signing import HEADER, signature
from notifier.domain import Integration, Outgoing, SendResult, WebhookCall

OFFERS = "offers"
ESCALATION = "escalation"
_TRANSIENT_STATUS = frozenset({408, 425, 429})


def check_response(response: httpx.Response) -> None:
    """Map an HTTP answer to success, a transient or a permanent :class:`DeliveryError`."""
    status = response.status_code
    if 200 <= status < 300:
        return
    reason = f"HTTP {status}: {response.text[:200]}"
    if status >= 500 or status in _TRANSIENT_STATUS:
        raise transient(reason, f"http-{status}",
                        parse_retry_after(response.headers.get("Retry-After")))
    raise permanent(reason, f"http-{status}")


async def post(client: httpx.AsyncClient, url: str, *, timeout_s: float,
               **request: object) -> httpx.Response:
    """POST, with a network failure as a transient :class:`DeliveryError`."""
    try:
        return await client.post(url, timeout=timeout_s, **request)  # type: ignore[arg-type]
    except httpx.TransportError as exc:
        raise transient(f"{type(exc).__name__}: {exc}", "network") from exc


class WebhookChannel(ChannelBase):
    """POSTs a :class:`WebhookCall` to its configured receiver, signed with its secret."""

    kind = Integration.WEBHOOK
    name = "webhook"
    idempotent: ClassVar[bool] = True

    def __init__(self, targets: dict[str, OutboundWebhookSettings], *,
                 client: httpx.AsyncClient | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.targets = targets
        self.client = client or httpx.AsyncClient()
        self._own_client = client is None
        self.clock = clock  # the signature's timestamp: receivers refuse an old one

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: object) -> WebhookChannel:
        targets = {OFFERS: settings.offers.webhook, ESCALATION: settings.escalation.webhook}
        return cls({k: v for k, v in targets.items() if v.url}, **kwargs)  # type: ignore[arg-type]

    async def send(self, outgoing: Outgoing) -> SendResult:
        call = self._message(outgoing, WebhookCall)
        target = self.targets.get(call.target)
        if target is None:
            raise permanent(f"webhook target {call.target!r} is not configured", "no-target")
        body = call.body.encode()
        stamp = int(self.clock().timestamp())
        headers = {"Content-Type": "application/json", "X-Notifier-Event": call.event,
                   "X-Notifier-Delivery": str(call.delivery_id),
                   HEADER: signature(target.secret.get_secret_value(), body, stamp)}
        response = await post(self.client, target.url, timeout_s=target.timeout_s,
                              content=body, headers=headers)
        check_response(response)
        return SendResult(provider_id=f"http-{response.status_code}")

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()

