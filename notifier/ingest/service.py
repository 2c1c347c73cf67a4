"""Receive one inbound payload: log it raw, dedupe it, apply it atomically.

    receipt = ingestor.receive(source="shopify", topic="orders/create",
                               dedupe_key="shopify:event:...", body=raw, parse=..., now=now)

The raw event and every record it carries commit in one transaction; a payload that
fails validation stores only the raw event with its error; a redelivery (same dedupe key)
changes nothing and is answered as a success so the platform stops retrying.

The JSON API's ``Idempotency-Key`` (see :class:`Idempotency`) is scoped to the API key
and endpoint and bound to the body: the same key with the same body is answered with the
first answer again; with a different body it is refused (422 naming ``Idempotency-Key``),
never silently dropped.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, select

from notifier.config import Settings
from notifier.errors import PayloadError
from notifier.ingest.apply import Applied, Applier
from notifier.ingest.payloads import stored_text
from notifier.ingest.records import AnyRecord
from notifier.store import idempotency
from notifier.store.db import transaction
from notifier.store.tables import InboundEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    """What became of a payload; ``http_status`` is what the sender should be told.
    ``replayed``: the answer is the first one given under the same Idempotency-Key."""

    outcome: str  # applied, stale, ignored, duplicate, rejected
    http_status: int
    event_id: int | None = None
    error: str = ""
    field: str = ""
    results: tuple[Applied, ...] = ()
    replayed: bool = False


@dataclass(frozen=True)
class Idempotency:
    """A client's ``Idempotency-Key`` in its scope (API key fingerprint and endpoint)."""

    scope: str
    key: str
    ttl: timedelta

    @staticmethod
    def of(*, api_key: str, endpoint: str, key: str, ttl: timedelta) -> Idempotency:
        fingerprint = hashlib.sha256(api_key.encode()).hexdigest()[:16]
        return Idempotency(f"{fingerprint}:{endpoint}", key, ttl)


class Ingestor:
    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self.factory = factory
        self.settings = settings

    def receive(
        self,
        *,
        source: str,
        topic: str,
        dedupe_key: str | None,
        body: bytes,
        parse: Callable[[], list[AnyRecord]],
        now: datetime,
        idempotency_key: Idempotency | None = None,
    ) -> Receipt:
        body_hash = hashlib.sha256(body).hexdigest()
        if idempotency_key is not None and not 0 < len(idempotency_key.key) <= 255:
            too_long = PayloadError("Idempotency-Key must be 1 to 255 characters",
                                    field="Idempotency-Key")
            return self._reject(source, topic, None, body, now, too_long)
        if idempotency_key is not None:
            earlier = self._earlier(idempotency_key, body_hash, now)
            if earlier is not None:
                return self._replay(source, topic, body, now, earlier)
        try:
            records = parse()
        except PayloadError as exc:
            return self._reject(source, topic, dedupe_key, body, now, exc)
        # No look-up before writing: the unique dedupe key turns a redelivery into an
        # IntegrityError on the first insert, so the common case costs one transaction.
        for attempt in (1, 2):
            try:
                return self._apply(source, topic, dedupe_key, body, records, now,
                                   idempotency_key, body_hash)
            except DataError as exc:
                # A value the database cannot hold that validation let through: the
                # sender hears 422 and the raw event is kept, never a 500 and a lost body.
                refused = PayloadError(f"the database refused a value: {exc.orig}", field="body")
                return self._reject(source, topic, dedupe_key, body, now, refused)
            except IntegrityError:
                if dedupe_key and self._seen(dedupe_key):
                    return Receipt("duplicate", 200)
                if idempotency_key is not None:
                    earlier = self._earlier(idempotency_key, body_hash, now)
                    if earlier is not None:  # the same key, committed a moment ago
                        return self._replay(source, topic, body, now, earlier)
                if attempt == 2:
                    raise
                # Another delivery created the same customer or order a moment ago;
                # the second try finds the row and updates it.
        raise AssertionError("unreachable")

    def _apply(self, source: str, topic: str, dedupe_key: str | None, body: bytes,
               records: list[AnyRecord], now: datetime, idem: Idempotency | None,
               body_hash: str) -> Receipt:
        with transaction(self.factory) as session:
            event = InboundEvent(source=source, topic=topic, dedupe_key=dedupe_key,
                                 payload=stored_text(body), received_at=now, outcome="applied")
            session.add(event)
            session.flush()
            assert event.id is not None
            if idem is not None:
                idempotency.remember(session, scope=idem.scope, key=idem.key,
                                     body_sha256=body_hash, event_id=event.id, now=now,
                                     ttl=idem.ttl)
            applier = Applier(session, self.settings, source=source, now=now,
                              event_id=event.id)
            results = tuple(applier.apply(record) for record in records)
            event.outcome = _summary(results)
            event_id = event.id
        log.info("ingest %s %s -> %s", source, topic, event.outcome)
        return Receipt(event.outcome, 200, event_id, results=results)

    def _earlier(self, idem: Idempotency, body_hash: str,
                 now: datetime) -> tuple[idempotency.FirstAnswer, bool] | None:
        """The first answer under this key and whether the body matches it."""
        with self.factory() as session:
            first = idempotency.first_answer(session, scope=idem.scope, key=idem.key,
                                             now=now, ttl=idem.ttl)
        return None if first is None else (first, first.body_sha256 == body_hash)

    def _replay(self, source: str, topic: str, body: bytes, now: datetime,
                earlier: tuple[idempotency.FirstAnswer, bool]) -> Receipt:
        first, same_body = earlier
        if same_body:
            return Receipt(first.outcome, 200, first.event_id, replayed=True)
        conflict = PayloadError(
            "Idempotency-Key was already used with a different body; use a new key for a "
            f"new request (first request: event {first.event_id})", field="Idempotency-Key")
        return self._reject(source, topic, None, body, now, conflict)

    def _seen(self, dedupe_key: str) -> bool:
        with self.factory() as session:
            stmt = select(InboundEvent.id).where(InboundEvent.dedupe_key == dedupe_key)
            return session.exec(stmt).first() is not None  # type: ignore[attr-defined]

    def _reject(self, source: str, topic: str, dedupe_key: str | None, body: bytes,
                now: datetime, exc: PayloadError) -> Receipt:
        # The rejected payload keeps no dedupe key: a corrected redelivery must get through.
        with transaction(self.factory) as session:
            event = InboundEvent(source=source, topic=topic, dedupe_key=None,
                                 payload=stored_text(body), received_at=now,
                                 outcome="rejected", error=str(exc))
            session.add(event)
            session.flush()
            event_id = event.id
        log.warning("ingest %s %s rejected: %s", source, topic, exc)
        return Receipt("rejected", exc.status_code, event_id, error=str(exc), field=exc.field)


def _summary(results: tuple[Applied, ...]) -> str:
    if not results:
        return "ignored"
    if all(r.outcome == "stale" for r in results):
        return "stale"
    return "applied"
