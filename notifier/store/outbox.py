"""Keyword-only queries on the one outbox: enqueue, claim with a lease, record attempts.

Every delivery is a ``notifications`` row: a rule's message to a customer (written by
detection), and, through :func:`enqueue` in the transaction of the decision that causes
it, support emails, signed webhooks and shop API calls. One claim, one lease, one
attempt table serve them all.

Claiming is the only contended step. On PostgreSQL it is ``SELECT ... FOR UPDATE SKIP
LOCKED``: workers never wait for each other and never take the same row. SQLite has one
writer at a time (``BEGIN IMMEDIATE``), which gives the same guarantee on one machine.
A claim is a lease: a worker that dies leaves rows in ``sending`` whose lease runs out,
and the next claim takes them again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from notifier.store.inserts import Plan, by_columns, compiled, expanded, many_values
from notifier.store.sql import insert_ignore
from notifier.store.tables import Consent, DeliveryAttempt, Notification, Suppression


def claim(session: Session, *, now: datetime, owner: str, lease: timedelta,
          limit: int, lease_from: datetime | None = None) -> list[int]:
    """Lease up to ``limit`` rows due at ``now`` (and rows whose lease ran out) to
    ``owner``, until ``lease_from`` (default ``now``) + ``lease``; their ids, earliest due
    first. One statement: the due rows are picked (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL, so concurrent workers pick different ones) and leased where they lie,
    without loading them."""
    due = (
        sa.select(_NOTIFICATIONS.c.id)
        .where(or_(
            and_(_NOTIFICATIONS.c.status == "pending", _NOTIFICATIONS.c.due_at <= now),
            and_(_NOTIFICATIONS.c.status == "sending", _NOTIFICATIONS.c.lease_until < now),
        ))
        .order_by(_NOTIFICATIONS.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    leased = session.execute(
        sa.update(_NOTIFICATIONS)
        .where(_NOTIFICATIONS.c.id.in_(due.scalar_subquery()))
        .values(status="sending", lease_until=(lease_from or now) + lease, lease_owner=owner)
        .returning(_NOTIFICATIONS.c.id, _NOTIFICATIONS.c.due_at)).all()
    return [int(i) for i, _ in sorted(leased, key=lambda row: (row[1], row[0]))]


# The per-message writes below are plain statements, not ORM loads and flushes, and each
# is built once with bind parameters: they run twice per message on the hot path, and
# building an UPDATE of nine columns per call cost four times as much as executing it.
_ATTEMPTS = DeliveryAttempt.__table__  # type: ignore[attr-defined]
_NOTIFICATIONS = Notification.__table__  # type: ignore[attr-defined]
_BEGIN_ATTEMPT = sa.insert(_ATTEMPTS).values(
    notification_id=sa.bindparam("b_notification_id"), number=sa.bindparam("b_number"),
    channel=sa.bindparam("b_channel"), started_at=sa.bindparam("b_now"), outcome="sending",
).returning(_ATTEMPTS.c.id)
_FINISH_ATTEMPT = sa.update(_ATTEMPTS).where(_ATTEMPTS.c.id == sa.bindparam("b_id")).values(
    outcome=sa.bindparam("b_outcome"), finished_at=sa.bindparam("b_now"),
    provider_id=sa.bindparam("b_provider_id"), error=sa.bindparam("b_error"),
    duration_ms=sa.bindparam("b_duration_ms"))
_MARK_SENT = sa.update(_NOTIFICATIONS).where(_NOTIFICATIONS.c.id == sa.bindparam("b_id")).values(
    status="sent", reason=sa.bindparam("b_note"), sent_at=sa.bindparam("b_now"),
    channel=sa.bindparam("b_channel"), recipient=sa.bindparam("b_recipient"),
    provider_id=sa.bindparam("b_provider_id"), attempts=_NOTIFICATIONS.c.attempts + 1,
    lease_until=None, lease_owner=None)


def begin_attempt(session: Session, *, notification_id: int, number: int, channel: str,
                  now: datetime) -> int:
    return int(session.execute(_BEGIN_ATTEMPT, {
        "b_notification_id": notification_id, "b_number": number, "b_channel": channel,
        "b_now": now}).scalar_one())


def finish_attempt(session: Session, *, attempt_id: int, outcome: str, now: datetime,
                   provider_id: str | None = None, error: str | None = None,
                   duration_ms: int | None = None) -> None:
    session.execute(_FINISH_ATTEMPT, {
        "b_id": attempt_id, "b_outcome": outcome, "b_now": now, "b_provider_id": provider_id,
        "b_error": error, "b_duration_ms": duration_ms})


def mark_sent(session: Session, *, notification_id: int, now: datetime, channel: str,
              recipient: str, provider_id: str, note: str | None = None) -> None:
    session.execute(_MARK_SENT, {
        "b_id": notification_id, "b_note": note, "b_now": now, "b_channel": channel,
        "b_recipient": recipient, "b_provider_id": provider_id})


_BEGIN_ATTEMPTS = sa.insert(_ATTEMPTS).returning(_ATTEMPTS.c.notification_id, _ATTEMPTS.c.id)


def begin_attempts(session: Session, rows: list[dict[str, Any]]) -> dict[int, int]:
    """Begin the ``sending`` attempts of a group of sends in one statement; each row has
    ``notification_id``, ``number``, ``channel``, ``now``. Returns attempt id per
    notification."""
    if not rows:
        return {}
    found = session.execute(_BEGIN_ATTEMPTS, _begun(rows))
    return {int(nid): int(aid) for nid, aid in found}


def _begun(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The parameters of :data:`_BEGIN_ATTEMPTS` for :func:`begin_attempts`' rows."""
    return [{"notification_id": r["notification_id"], "number": r["number"],
             "channel": r["channel"], "started_at": r["now"], "outcome": "sending"}
            for r in rows]


def record_sent(session: Session, rows: list[dict[str, Any]]) -> None:
    """Complete a group of attempts the provider took and mark their rows sent, one
    statement each (executemany); each row has ``attempt_id``, ``notification_id``,
    ``now``, ``channel``, ``recipient``, ``provider_id``, ``note``, ``duration_ms``."""
    if not rows:
        return
    session.execute(_FINISH_ATTEMPT, _finished_sent(rows))
    session.execute(_MARK_SENT, _marked_sent(rows))


def _finished_sent(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The parameters of :data:`_FINISH_ATTEMPT` for :func:`record_sent`'s rows."""
    return [{"b_id": r["attempt_id"], "b_outcome": "sent", "b_now": r["now"],
             "b_provider_id": r["provider_id"], "b_error": None,
             "b_duration_ms": r["duration_ms"]} for r in rows]


def _marked_sent(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The parameters of :data:`_MARK_SENT` for :func:`record_sent`'s rows."""
    return [{"b_id": r["notification_id"], "b_note": r["note"], "b_now": r["now"],
             "b_channel": r["channel"], "b_recipient": r["recipient"],
             "b_provider_id": r["provider_id"]} for r in rows]


def attempts_of(session: Session, *, notification_id: int) -> list[DeliveryAttempt]:
    stmt = (select(DeliveryAttempt).where(DeliveryAttempt.notification_id == notification_id)
            .order_by(col(DeliveryAttempt.number), col(DeliveryAttempt.id)))
    return list(session.exec(stmt).all())


def notifications_by_id(session: Session, ids: list[int]) -> list[Notification]:
    return list(session.exec(select(Notification).where(col(Notification.id).in_(ids))).all())


def rows_by_id(session: Session, table: Any, ids: set[int]) -> list[Any]:
    return list(session.exec(select(table).where(col(table.id).in_(ids))).all())


def consents_of_many(session: Session, *,
                     customer_ids: set[int]) -> dict[int, dict[tuple[str, str], bool]]:
    out: dict[int, dict[tuple[str, str], bool]] = {}
    if not customer_ids:
        return out
    for row in session.exec(select(Consent).where(col(Consent.customer_id).in_(customer_ids))):
        out.setdefault(row.customer_id, {})[(row.channel, row.purpose)] = row.granted
    return out


def failed_channels(session: Session, *, notification_ids: list[int]) -> dict[int, set[str]]:
    """Channels that already failed permanently, per notification (fallback skips them)."""
    out: dict[int, set[str]] = {}
    if not notification_ids:
        return out
    stmt = select(DeliveryAttempt.notification_id, DeliveryAttempt.channel).where(
        col(DeliveryAttempt.notification_id).in_(notification_ids),
        DeliveryAttempt.outcome == "failed")
    for nid, channel in session.exec(stmt).all():
        out.setdefault(nid, set()).add(channel)
    return out


def suppressions_for(session: Session, *,
                     addresses: set[str]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    if not addresses:
        return out
    for row in session.exec(select(Suppression).where(col(Suppression.address).in_(addresses))):
        out.setdefault((row.channel, row.address), []).append((row.purpose, row.reason))
    return out


def sent_times_many(session: Session, *, customer_ids: set[int],
                    since: datetime) -> dict[tuple[int, str], list[datetime]]:
    out: dict[tuple[int, str], list[datetime]] = {}
    if not customer_ids:
        return out
    stmt = select(Notification.customer_id, Notification.purpose, Notification.sent_at).where(
        col(Notification.customer_id).in_(customer_ids), col(Notification.sent_at) > since)
    for customer_id, purpose, sent_at in session.exec(stmt).all():
        if customer_id is not None and sent_at is not None:
            out.setdefault((customer_id, purpose), []).append(sent_at)
    return out






def suppress(session: Session, *, channel: str, address: str, reason: str, now: datetime,
             purpose: str = "") -> None:
    existing = session.exec(select(Suppression).where(
        Suppression.channel == channel, Suppression.address == address,
        Suppression.purpose == purpose)).first()
    if existing is None:
        session.add(Suppression(channel=channel, address=address, purpose=purpose,
                                reason=reason, at=now))


def set_survey(session: Session, *, notification_id: int, kind: str) -> None:
    """Record which question a message asks (its answers land in ``survey_answers``)."""
    session.execute(sa.update(_NOTIFICATIONS).where(_NOTIFICATIONS.c.id == notification_id)
                    .values(survey=kind))


def statuses_of(session: Session, ids: list[int]) -> list[tuple[str, str | None, str, int]]:
    """``(rule, channel, status, count)`` of these notifications (metrics after a pass)."""
    n = _NOTIFICATIONS
    stmt = (sa.select(n.c.rule, n.c.channel, n.c.status, sa.func.count())
            .where(n.c.id.in_(ids)).group_by(n.c.rule, n.c.channel, n.c.status))
    return [(r, c, s, int(k)) for r, c, s, k in session.execute(stmt)]


def enqueue(session: Session, *, kind: str, channel: str, key: str, recipient: str,
            event: str, payload: str, now: datetime, origin: tuple[str, int] = ("", 0),
            rule: str = "") -> int:
    """Queue one delivery due now, in the caller's transaction; returns its row id.

    ``key`` makes it idempotent: queued before, the existing row's id is returned and
    nothing new is queued. ``origin`` (kind, id) names what caused it (an offer, a
    notification); ``event`` is shown as the row's template.
    """
    insert_ignore(session, Notification, {
        "key": key, "kind": kind, "rule": rule, "step": 0, "entity_kind": origin[0],
        "entity_id": origin[1], "template": event, "purpose": "internal",
        "channels": [channel], "channel": channel, "recipient": recipient, "status": "pending",
        "due_at": now, "detected_at": now, "attempts": 0, "days_late": 0, "clicks": 0,
        "converted_after_click": False, "payload": payload}, keys=["key"])
    found = session.exec(select(Notification.id).where(Notification.key == key)).one()
    return int(found or 0)


def find(session: Session, *, key: str) -> Notification | None:
    """The row queued under ``key``, if any."""
    return session.exec(select(Notification).where(Notification.key == key)).first()


def count_since(session: Session, *, kind: str, origin: tuple[str, int],
                since: datetime) -> int:
    """Rows of ``kind`` queued by ``origin`` (kind, id) since ``since`` (rate limits)."""
    stmt = select(sa.func.count()).select_from(Notification).where(
        Notification.kind == kind, Notification.entity_kind == origin[0],
        Notification.entity_id == origin[1], col(Notification.detected_at) >= since)
    return int(session.exec(stmt).one())


def cancel(session: Session, *, key: str, reason: str) -> bool:
    """Withdraw a queued delivery not yet sent; False when it was sent (or never queued)."""
    done = session.execute(
        sa.update(_NOTIFICATIONS)
        .where(_NOTIFICATIONS.c.key == key, _NOTIFICATIONS.c.status == "pending")
        .values(status="cancelled", reason=reason)
        .returning(_NOTIFICATIONS.c.id))
    return done.first() is not None


def open_attempts(session: Session, *, notification_ids: list[int]) -> dict[int, DeliveryAttempt]:
    """Attempts begun and never completed, per notification: the worker that made them
    was lost mid-call, so whether the provider took the message is unknown."""
    if not notification_ids:
        return {}
    stmt = select(DeliveryAttempt).where(
        col(DeliveryAttempt.notification_id).in_(notification_ids),
        DeliveryAttempt.outcome == "sending")
    return {a.notification_id: a for a in session.exec(stmt).all()}


def close_attempt(session: Session, *, attempt_id: int, outcome: str, now: datetime,
                  error: str) -> None:
    """Complete an attempt found open (``unknown``), so it is judged once."""
    finish_attempt(session, attempt_id=attempt_id, outcome=outcome, now=now, error=error)


def renew_leases(session: Session, *, ids: list[int], owner: str, until: datetime) -> int:
    """Extend this worker's leases on rows still sending (a long batch keeps its claims)."""
    if not ids:
        return 0
    done = session.execute(
        sa.update(_NOTIFICATIONS)
        .where(col(_NOTIFICATIONS.c.id).in_(ids), _NOTIFICATIONS.c.status == "sending",
               _NOTIFICATIONS.c.lease_owner == owner)
        .values(lease_until=until))
    return int(done.rowcount or 0)


def renew_leases_of(session: Session, *, ids: list[int], owner: str,
                    until: datetime) -> set[int]:
    """:func:`renew_leases`, returning the ids still leased to ``owner`` (the others were
    retaken by another worker after their lease ran out)."""
    if not ids:
        return set()
    done = session.execute(_RENEW_LEASES_OF, {"b_ids": ids, "b_owner": owner,
                                              "b_until": until})
    return {int(i) for (i,) in done}


# Once per group of sends: built once (building it per call cost more than running it).
_RENEW_LEASES_OF = (
    sa.update(_NOTIFICATIONS)
    .where(_NOTIFICATIONS.c.id.in_(sa.bindparam("b_ids", expanding=True)),
           _NOTIFICATIONS.c.status == "sending",
           _NOTIFICATIONS.c.lease_owner == sa.bindparam("b_owner"))
    .values(lease_until=sa.bindparam("b_until"))
    .returning(_NOTIFICATIONS.c.id))


# The same writes on the cursor of a SQLite driver connection, inside a transaction the
# caller opened (the dispatcher's group commit): the statements above compiled once for
# SQLite (inserts.compiled), their parameters converted as the session converts them. A
# group of sends through a session cost about 1 ms of CPU more than SQLite itself did.

def record_sent_sqlite(cursor: Any, rows: list[dict[str, Any]]) -> None:
    """:func:`record_sent` on a SQLite cursor."""
    if not rows:
        return
    for statement, params in ((_FINISH_ATTEMPT, _finished_sent(rows)),
                              (_MARK_SENT, _marked_sent(rows))):
        plan, values = _for_sqlite(statement, params)
        cursor.executemany(plan.sql, values)


def renew_leases_of_sqlite(cursor: Any, *, ids: list[int], owner: str,
                           until: datetime) -> set[int]:
    """:func:`renew_leases_of` on a SQLite cursor."""
    if not ids:
        return set()
    plan, [values] = _for_sqlite(_RENEW_LEASES_OF,
                                 [{"b_ids": ids, "b_owner": owner, "b_until": until}])
    cursor.execute(*expanded(plan, values, "b_ids"))
    return {int(i) for (i,) in cursor.fetchall()}


def begin_attempts_sqlite(cursor: Any, rows: list[dict[str, Any]]) -> dict[int, int]:
    """:func:`begin_attempts` on a SQLite cursor: one INSERT of a row of VALUES per
    attempt (a group holds at most ``delivery.concurrency``, far below SQLite's limit on
    variables)."""
    if not rows:
        return {}
    plan, values = _for_sqlite(_BEGIN_ATTEMPTS, _begun(rows))
    cursor.execute(many_values(plan, len(values)), tuple(v for row in values for v in row))
    return {int(nid): int(aid) for nid, aid in cursor.fetchall()}


def _for_sqlite(statement: sa.Executable,
                params: list[dict[str, Any]]) -> tuple[Plan, list[tuple[Any, ...]]]:
    """``statement`` compiled (once) for the keys of ``params`` (dicts with the same keys
    in the same order, as one of the builders above writes them), and ``params`` as its
    converted tuples, a column at a time: a group's rows share their moment, converted
    once (a third of the cost of converting row by row)."""
    columns = tuple(params[0])
    plan = compiled(statement, columns)
    return plan, by_columns(plan, columns, [tuple(p.values()) for p in params])


def enqueue_webhook(session: Session, *, target: str, event: str, data: Mapping[str, Any],
                    key: str, now: datetime, origin: tuple[str, int] = ("", 0),
                    kind: str = "webhook") -> int:
    """Queue a signed webhook to ``target`` (``offers``, ``escalation``); the body is
    ``{"event", "occurred_at", "data"}`` and is signed as stored. ``kind="shopify"``
    queues a Shopify Admin call (``event`` the operation) the same way."""
    body = json.dumps({"event": event, "occurred_at": now.isoformat(), "data": data},
                      ensure_ascii=False, sort_keys=True, default=str)
    return enqueue(session, kind=kind, channel=kind, key=key, recipient=target, event=event,
                   payload=body, now=now, origin=origin)
