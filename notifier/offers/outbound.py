"""A small durable queue of outbound calls: signed webhooks and shop API requests.

Producers call :func:`enqueue` inside their own transaction, so a webhook exists exactly
when the offer or escalation it reports was committed. A scheduler job calls
:meth:`OutboundSender.deliver_due` with ``now``: it claims due rows (``FOR UPDATE SKIP
LOCKED`` with a lease, as the notification outbox does), sends them outside any
transaction and records the outcome. A failure is retried with exponential backoff and
jitter (a receiver's ``Retry-After`` is a floor) until the target's ``max_attempts``;
a permanent failure (a 4xx other than 408/425/429) is not retried.

    sender = OutboundSender(runtime.sessions, settings)
    await sender.deliver_due(now)      # Counter({"delivered": 3, "retry": 1})
    await sender.aclose()
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

import httpx
from sqlalchemy import and_, or_
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from notifier.config import OutboundWebhookSettings, Settings
from notifier.deliver.base import parse_retry_after, permanent, transient
from notifier.deliver.policies import backoff
from notifier.errors import DeliveryError
from notifier.offers.signing import HEADER, signature
from notifier.offers.sql import insert_ignore
from notifier.store.db import transaction
from notifier.store.offer_tables import OutboundDelivery

log = logging.getLogger(__name__)

OFFERS = "offers"
ESCALATION = "escalation"
SHOPIFY = "shopify"

_TRANSIENT_STATUS = {408, 425, 429}


def enqueue(session: Session, *, target: str, event: str, data: Mapping[str, Any],
            now: datetime, dedupe_key: str | None = None) -> int:
    """Queue one call due now and return its id; with a ``dedupe_key`` queued before, the
    existing row's id (nothing new is queued)."""
    body = json.dumps({"event": event, "occurred_at": now.isoformat(), "data": data},
                      ensure_ascii=False, sort_keys=True, default=str)
    values = {"target": target, "event": event, "payload": body, "dedupe_key": dedupe_key,
              "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
    if dedupe_key is None:
        row = OutboundDelivery(**values)
        session.add(row)
        session.flush()
        return row.id or 0
    insert_ignore(session, OutboundDelivery, values, keys=["dedupe_key"])
    found = session.exec(select(OutboundDelivery.id)
                         .where(OutboundDelivery.dedupe_key == dedupe_key)).one()
    return int(found or 0)


def cancel(session: Session, *, dedupe_key: str) -> bool:
    """Cancel a queued call not yet sent; False when it was sent (or never queued)."""
    row = session.exec(select(OutboundDelivery)
                       .where(OutboundDelivery.dedupe_key == dedupe_key)).first()
    if row is None or row.status != "pending":
        return False
    row.status, row.last_error = "cancelled", "cancelled before sending"
    session.add(row)
    return True


def claim_due(session: Session, *, now: datetime, lease: timedelta,
              limit: int) -> list[OutboundDelivery]:
    """Lease up to ``limit`` due rows (and rows whose lease ran out) to this worker."""
    stmt = (
        select(OutboundDelivery)
        .where(or_(
            and_(col(OutboundDelivery.status) == "pending",
                 col(OutboundDelivery.next_attempt_at) <= now),
            and_(col(OutboundDelivery.status) == "sending",
                 col(OutboundDelivery.lease_until) < now),
        ))
        .order_by(col(OutboundDelivery.next_attempt_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list(session.exec(stmt).all())
    for row in rows:
        row.status, row.lease_until = "sending", now + lease
        session.add(row)
    return rows


@dataclass(frozen=True)
class Due:
    """A claimed delivery, detached from its session."""

    id: int
    target: str
    event: str
    body: bytes
    attempts: int


class Target(Protocol):
    """Where a delivery goes. ``send`` returns on success or raises :class:`DeliveryError`."""

    max_attempts: int
    backoff_base_s: float
    backoff_max_s: float

    async def send(self, client: httpx.AsyncClient, due: Due, now: datetime) -> None: ...


def check_response(response: httpx.Response, now: datetime) -> None:
    """Map an HTTP answer to success, a transient or a permanent :class:`DeliveryError`."""
    status = response.status_code
    if 200 <= status < 300:
        return
    reason = f"HTTP {status}: {response.text[:200]}"
    if status >= 500 or status in _TRANSIENT_STATUS:
        raise transient(reason, f"http-{status}",
                        parse_retry_after(response.headers.get("Retry-After"), now=now))
    raise permanent(reason, f"http-{status}")


class WebhookTarget:
    """A signed JSON POST to a configured URL (see :mod:`notifier.offers.signing`)."""

    def __init__(self, settings: OutboundWebhookSettings) -> None:
        self.settings = settings
        self.max_attempts = settings.max_attempts
        self.backoff_base_s = settings.backoff_base_s
        self.backoff_max_s = settings.backoff_max_s

    async def send(self, client: httpx.AsyncClient, due: Due, now: datetime) -> None:
        secret = self.settings.secret.get_secret_value()
        headers = {
            "Content-Type": "application/json",
            "X-Notifier-Event": due.event,
            "X-Notifier-Delivery": str(due.id),
            HEADER: signature(secret, due.body, int(now.timestamp())),
        }
        try:
            response = await client.post(self.settings.url, content=due.body, headers=headers,
                                         timeout=self.settings.timeout_s)
        except httpx.TransportError as exc:
            raise transient(f"{type(exc).__name__}: {exc}", "network") from exc
        check_response(response, now)


def build_targets(settings: Settings) -> dict[str, Target]:
    """The targets the settings configure; deliveries for any other fail permanently."""
    from notifier.offers.shopify_admin import ShopifyTarget

    targets: dict[str, Target] = {}
    if settings.offers.webhook.url:
        targets[OFFERS] = WebhookTarget(settings.offers.webhook)
    if settings.escalation.webhook.url:
        targets[ESCALATION] = WebhookTarget(settings.escalation.webhook)
    if settings.offers.shopify.enabled:
        targets[SHOPIFY] = ShopifyTarget(settings.offers.shopify)
    return targets


class OutboundSender:
    """Delivers due outbound calls; one per worker process, closed with :meth:`aclose`."""

    lease: ClassVar[timedelta] = timedelta(minutes=5)

    def __init__(self, sessions: sessionmaker[Session], settings: Settings, *,
                 client: httpx.AsyncClient | None = None,
                 targets: dict[str, Target] | None = None, batch_size: int = 50,
                 rng: random.Random | None = None) -> None:
        self.sessions = sessions
        self.targets = build_targets(settings) if targets is None else targets
        self.client = client or httpx.AsyncClient()
        self._own_client = client is None
        self.batch_size = batch_size
        self.rng = rng

    async def deliver_due(self, now: datetime) -> Counter[str]:
        """Send every call due at ``now``; returns how many were delivered, retried, failed."""
        due = await asyncio.to_thread(self._claim, now)
        outcome: Counter[str] = Counter()
        for result in await asyncio.gather(*(self._one(d, now) for d in due)):
            outcome[result] += 1
        if due:
            log.info("outbound at %s: %s", now.isoformat(), dict(outcome))
        return outcome

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()

    def _claim(self, now: datetime) -> list[Due]:
        with transaction(self.sessions) as session:
            rows = claim_due(session, now=now, lease=self.lease, limit=self.batch_size)
            return [Due(r.id or 0, r.target, r.event, r.payload.encode(), r.attempts)
                    for r in rows]

    async def _one(self, due: Due, now: datetime) -> str:
        target = self.targets.get(due.target)
        try:
            if target is None:
                raise permanent(f"target {due.target!r} is not configured", "no-target")
            await target.send(self.client, due, now)
        except DeliveryError as exc:
            return await asyncio.to_thread(self._failed, due, target, exc, now)
        await asyncio.to_thread(self._delivered, due, now)
        return "delivered"

    def _delivered(self, due: Due, now: datetime) -> None:
        with transaction(self.sessions) as session:
            row = session.get(OutboundDelivery, due.id)
            if row is None:
                return
            row.status, row.delivered_at, row.lease_until = "delivered", now, None
            row.attempts, row.last_error = due.attempts + 1, None
            session.add(row)

    def _failed(self, due: Due, target: Target | None, exc: DeliveryError,
                now: datetime) -> str:
        attempts = due.attempts + 1
        error = f"{exc.code or 'error'}: {exc.reason}"
        with transaction(self.sessions) as session:
            row = session.get(OutboundDelivery, due.id)
            if row is None:
                return "error"
            row.attempts, row.last_error, row.lease_until = attempts, error, None
            if target is None or exc.permanent or attempts >= target.max_attempts:
                row.status = "failed"
                log.warning("outbound %s %s #%s failed after %d attempt(s): %s",
                            due.target, due.event, due.id, attempts, error)
            else:
                row.status = "pending"
                row.next_attempt_at = now + backoff(
                    attempts, base_s=target.backoff_base_s, max_s=target.backoff_max_s,
                    retry_after=exc.retry_after, rng=self.rng)
            session.add(row)
            return "failed" if row.status == "failed" else "retry"
