"""Receive one inbound payload: log it raw, dedupe it, apply it atomically.

    receipt = ingestor.receive(source="shopify", topic="orders/create",
                               dedupe_key="shopify:event:...", body=raw, parse=..., now=now)

The raw event and every record it carries commit in one transaction; a payload that
fails validation stores only the raw event with its error; a redelivery (same dedupe key)
changes nothing and is answered as a success so the platform stops retrying.

Concurrent requests are applied together by :meth:`Ingestor.receive_many` (see
``group_commit.py``): one transaction and a few statements for a whole batch, each request
answered as it would have been alone.

The JSON API's ``Idempotency-Key`` (see :class:`Idempotency`) is scoped to the API key
and endpoint and bound to the body: the same key with the same body is answered with the
first answer again; with a different body it is refused (422 naming ``Idempotency-Key``),
never silently dropped.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import sqlalchemy as sa
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, select

from notifier.config import Settings
from notifier.errors import PayloadError
from notifier.ingest.apply import Applied, Applier
from notifier.ingest.batch import BatchApplier, Batched, Pipelined
from notifier.ingest.payloads import stored_text
from notifier.ingest.pipeline import HeldConnection
from notifier.ingest.records import AnyRecord, CustomerIn, OrderIn
from notifier.ingest.rows import insert_many, key_in, update_many
from notifier.store import idempotency
from notifier.store.db import transaction
from notifier.store.tables import InboundEvent
from notifier.store.types import UTCDateTime

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


@dataclass(frozen=True)
class Inbound:
    """One payload waiting for its batch: parsed already (``records``) or refused
    (``error``); ``body_sha256`` binds an Idempotency-Key to the body."""

    source: str
    topic: str
    dedupe_key: str | None
    body: bytes
    now: datetime
    records: tuple[AnyRecord, ...] = ()
    error: PayloadError | None = None
    idempotency_key: Idempotency | None = None

    @staticmethod
    def parsed(*, source: str, topic: str, dedupe_key: str | None, body: bytes,
               parse: Callable[[], list[AnyRecord]], now: datetime,
               idempotency_key: Idempotency | None = None) -> Inbound:
        """Run ``parse`` now; a :class:`PayloadError` is kept, to be stored and answered."""
        try:
            records, error = tuple(parse()), None
        except PayloadError as exc:
            records, error = (), exc
        return Inbound(source, topic, dedupe_key, body, now, records, error, idempotency_key)

    @property
    def body_sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


class Ingestor:
    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self.factory = factory
        self.settings = settings

    def hold(self) -> HeldConnection | None:
        """A connection for one writer to pass to :meth:`receive_batch` run inside
        ``greenlet_spawn`` on its event loop (``group_commit.py``; PostgreSQL: None on
        SQLite, whose one writer gains nothing from it)."""
        engine = self.factory.kw["bind"]
        return HeldConnection(engine) if engine.dialect.name == "postgresql" else None

    @staticmethod
    def pipelinable(items: Sequence[Inbound]) -> bool:
        """Whether :meth:`receive_batch` takes ``items`` through a held connection."""
        return all(_pipelinable(item) for item in items)

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

    def receive_one(self, item: Inbound) -> Receipt:
        """:meth:`receive` for an item that was parsed already (its batch failed)."""

        def parse() -> list[AnyRecord]:
            if item.error is not None:
                raise item.error
            return list(item.records)

        return self.receive(source=item.source, topic=item.topic, dedupe_key=item.dedupe_key,
                            body=item.body, parse=parse, now=item.now,
                            idempotency_key=item.idempotency_key)

    def receive_batch(self, items: Sequence[Inbound], *,
                      held: HeldConnection | None = None) -> list[Receipt | None]:
        """Store ``items`` in one transaction, each answered as :meth:`receive` would.

        None: the item repeats the dedupe key or Idempotency-Key of an earlier item of the
        batch; the earlier one's fate decides its answer, so it waits for the next batch.
        Any error rolls the whole batch back and propagates: the caller then applies each
        item alone (:meth:`receive_one`), so one bad record fails only itself.

        ``held`` (:meth:`hold`): a batch of orders and customers without Idempotency-Keys
        goes through that connection's pipeline (:meth:`_receive_pipelined`).
        """
        if held is not None and self.pipelinable(items):
            return self._receive_pipelined(items, held)
        answers: list[Receipt | None] = [None] * len(items)
        refused: dict[int, PayloadError] = {}
        with transaction(self.factory) as session:
            conn = session.connection()
            earlier = self._earlier_many(session, items)
            todo = self._triage(items, earlier, answers, refused)
            dedupe = [items[i].dedupe_key for i in todo if items[i].dedupe_key]
            stored = set(conn.execute(_seen_many(conn.dialect.name), {"keys": dedupe}).scalars()
                         if dedupe else ())
            for i in todo:
                if items[i].dedupe_key in stored:
                    answers[i] = Receipt("duplicate", 200)
            applying = [i for i in todo if answers[i] is None]
            rows = [_event_row(items[i], "applied") for i in applying]
            rows += [_event_row(items[i], "rejected", refused[i]) for i in refused]
            ids = _insert_events(conn, rows)
            event_of = dict(zip([*applying, *refused], ids, strict=True))
            remembered = [i for i in applying if items[i].idempotency_key is not None]
            if remembered:
                self._remember_many(conn, [(items[i], event_of[i]) for i in remembered])
            batched = [Batched(record, items[i].source, items[i].now, event_of[i])
                       for i in applying for record in items[i].records]
            results = BatchApplier(session, self.settings).apply(batched)
            update_many(conn, EVENTS, _settle(items, applying, event_of, results, answers))
        return _answered(items, answers, refused, applying, event_of)

    def _receive_pipelined(self, items: Sequence[Inbound],
                           held: HeldConnection) -> list[Receipt | None]:
        """:meth:`receive_batch` in three round trips to PostgreSQL.

        The first carries BEGIN, the look-up of the dedupe keys, the events' ids (drawn
        from their sequence, one per item) and the stored customers and orders the items
        would write, locked: those of a redelivery too, which the look-up has not ruled
        out yet (a lock held a few milliseconds longer, nothing written). The second
        carries the events and the customers (see BatchApplier), the third the rest with
        COMMIT, waited for before anyone is answered. Same statements and decisions as
        the other path otherwise.
        """
        answers: list[Receipt | None] = [None] * len(items)
        refused: dict[int, PayloadError] = {}
        todo = self._triage(items, {}, answers, refused)
        with held.transaction() as pipe:
            out = Pipelined(pipe)
            dedupe = [items[i].dedupe_key for i in todo if items[i].dedupe_key]
            seen = pipe.read(_seen_many("postgresql"), {"keys": dedupe}) if dedupe else None
            count = len(todo) + len(refused)
            drawn = pipe.read(_event_ids(), {"count": count}) if count else None
            applier = BatchApplier(None, self.settings, out)
            read = applier.held([Batched(record, items[i].source, items[i].now)
                                 for i in todo for record in items[i].records])
            stored = {row.dedupe_key for row in seen()} if seen is not None else set()
            for i in todo:
                if items[i].dedupe_key in stored:
                    answers[i] = Receipt("duplicate", 200)
            applying = [i for i in todo if answers[i] is None]
            order = [*applying, *refused]
            ids = sorted(row.id for row in drawn())[:len(order)] if drawn is not None else []
            event_of = dict(zip(order, ids, strict=True))
            rows = [{"id": event_of[i]} | _event_row(items[i], "applied") for i in applying]
            rows += [{"id": event_of[i]} | _event_row(items[i], "rejected", refused[i])
                     for i in refused]
            out.insert_many(EVENTS, rows)
            batched = [Batched(record, items[i].source, items[i].now, event_of[i])
                       for i in applying for record in items[i].records]
            results = applier.apply(batched, read)
            out.update_many(EVENTS, _settle(items, applying, event_of, results, answers))
        return _answered(items, answers, refused, applying, event_of)

    @staticmethod
    def _triage(items: Sequence[Inbound], earlier: dict[int, idempotency.FirstAnswer],
                answers: list[Receipt | None], refused: dict[int, PayloadError]) -> list[int]:
        """The indexes to store; replays answered, refusals collected, repeats left None."""
        keys: set[tuple[str, str]] = set()
        dedupe: set[str] = set()
        todo: list[int] = []
        for i, item in enumerate(items):
            idem = item.idempotency_key
            if idem is not None:
                if not 0 < len(idem.key) <= 255:
                    refused[i] = PayloadError("Idempotency-Key must be 1 to 255 characters",
                                              field="Idempotency-Key")
                    continue
                if (idem.scope, idem.key) in keys:
                    continue
                first = earlier.get(i)
                if first is not None:
                    if first.body_sha256 == item.body_sha256:
                        answers[i] = Receipt(first.outcome, 200, first.event_id, replayed=True)
                    else:
                        refused[i] = _reused(first)
                    continue
                keys.add((idem.scope, idem.key))
            if item.error is not None:
                refused[i] = item.error
                continue
            if item.dedupe_key is not None:
                if item.dedupe_key in dedupe:
                    continue
                dedupe.add(item.dedupe_key)
            todo.append(i)
        return todo

    @staticmethod
    def _earlier_many(session: Session,
                      items: Sequence[Inbound]) -> dict[int, idempotency.FirstAnswer]:
        """The live first answer under each item's Idempotency-Key, by item index."""
        wanted = {i: item.idempotency_key for i, item in enumerate(items)
                  if item.idempotency_key is not None
                  and 0 < len(item.idempotency_key.key) <= 255}
        if not wanted:
            return {}
        found = idempotency.first_answers(
            session, keys=[(k.scope, k.key) for k in wanted.values()])  # type: ignore[union-attr]
        out = {}
        for i, key in wanted.items():
            first = found.get((key.scope, key.key))  # type: ignore[union-attr]
            if first is not None and first[1] > items[i].now - key.ttl:  # type: ignore[union-attr]
                out[i] = first[0]
        return out

    @staticmethod
    def _remember_many(conn: sa.Connection, items: list[tuple[Inbound, int]]) -> None:
        """:func:`idempotency.remember` for a batch: expired keys of each scope first."""
        conn.execute(_forget_expired(), [
            {"key_scope": item.idempotency_key.scope,  # type: ignore[union-attr]
             "cutoff": item.now - item.idempotency_key.ttl}  # type: ignore[union-attr]
            for item, _ in items])
        conn.execute(_insert_plain(KEYS), [{
            "scope": item.idempotency_key.scope, "key": item.idempotency_key.key,  # type: ignore[union-attr]
            "body_sha256": item.body_sha256, "event_id": event_id, "created_at": item.now,
        } for item, event_id in items])

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
        return self._reject(source, topic, None, body, now, _reused(first))

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


def _pipelinable(item: Inbound) -> bool:
    return item.idempotency_key is None and all(
        isinstance(record, (OrderIn, CustomerIn)) for record in item.records)


def _answered(items: Sequence[Inbound], answers: list[Receipt | None],
              refused: dict[int, PayloadError], applying: list[int],
              event_of: dict[int, int]) -> list[Receipt | None]:
    """The refused items' answers added, once the batch committed; the batch logged."""
    for i, exc in refused.items():
        item = items[i]
        log.warning("ingest %s %s rejected: %s", item.source, item.topic, exc)
        answers[i] = Receipt("rejected", exc.status_code, event_of[i], error=str(exc),
                             field=exc.field)
    if applying:  # one line per batch: a line per request cost the writer a write each
        outcomes_seen = Counter((items[i].source, items[i].topic,
                                 answers[i].outcome)  # type: ignore[union-attr]
                                for i in applying)
        log.info("ingest batch of %d: %s", len(items), ", ".join(
            f"{source} {topic} -> {outcome} x{n}"
            for (source, topic, outcome), n in outcomes_seen.items()))
    return answers


def _settle(items: Sequence[Inbound], applying: list[int], event_of: dict[int, int],
            results: Iterable[Applied], answers: list[Receipt | None]) -> list[dict[str, object]]:
    """Each applied item's answer from its records' results (in batch order); the events
    whose outcome is not "applied", for one update of their rows."""
    found = iter(results)
    outcomes: list[dict[str, object]] = []
    for i in applying:
        mine = tuple(next(found) for _ in items[i].records)
        outcome = _summary(mine)
        if outcome != "applied":
            outcomes.append({"row_id": event_of[i], "outcome": outcome})
        answers[i] = Receipt(outcome, 200, event_of[i], results=mine)
    return outcomes


def _summary(results: tuple[Applied, ...]) -> str:
    if not results:
        return "ignored"
    if all(r.outcome == "stale" for r in results):
        return "stale"
    return "applied"


def _reused(first: idempotency.FirstAnswer) -> PayloadError:
    return PayloadError(
        "Idempotency-Key was already used with a different body; use a new key for a "
        f"new request (first request: event {first.event_id})", field="Idempotency-Key")


def _event_row(item: Inbound, outcome: str, error: PayloadError | None = None) -> dict[str, object]:
    # A rejected payload keeps no dedupe key: a corrected redelivery must get through.
    return {"source": item.source, "topic": item.topic,
            "dedupe_key": item.dedupe_key if error is None else None,
            "payload": stored_text(item.body), "received_at": item.now, "outcome": outcome,
            "error": str(error) if error is not None else None}


# -- statements, built once (see apply.py) ----------------------------------------------

EVENTS: sa.Table = InboundEvent.__table__  # type: ignore[attr-defined]
KEYS: sa.Table = idempotency.IdempotencyKey.__table__  # type: ignore[attr-defined]


@cache
def _seen_many(dialect: str) -> sa.Select[tuple[str]]:
    return sa.select(EVENTS.c.dedupe_key).where(key_in(EVENTS.c.dedupe_key, "keys", dialect))


@cache
def _event_ids() -> sa.Select[tuple[int]]:
    """``count`` new ids of inbound_events, drawn from its sequence."""
    drawn = sa.func.nextval(sa.func.pg_get_serial_sequence("inbound_events", "id"))
    return sa.select(drawn.label("id")).select_from(
        sa.func.generate_series(1, sa.bindparam("count", type_=sa.Integer())))


def _insert_events(conn: sa.Connection, rows: list[dict[str, object]]) -> list[int]:
    """Insert the batch's events in one statement; their ids in the order of ``rows``.

    RETURNING comes in no promised order, but the ids are drawn in the order of the rows
    (SQLite under its write lock takes ascending rowids in VALUES order; PostgreSQL draws
    the sequence in the order of the unnested arrays, ``WITH ORDINALITY``), so the sorted
    ids are the rows' ids. (SQLAlchemy's ``sort_by_parameter_order`` relies on the same on
    PostgreSQL, and on SQLite would insert row by row.)
    """
    if not rows:
        return []
    return sorted(row.id for row in insert_many(conn, EVENTS, rows, ("id",)))


@cache
def _forget_expired() -> sa.Delete:
    return sa.delete(KEYS).where(KEYS.c.scope == sa.bindparam("key_scope"),
                                 KEYS.c.created_at <= sa.bindparam("cutoff", type_=UTCDateTime))


@cache
def _insert_plain(table: sa.Table) -> sa.Insert:
    return sa.insert(table)
