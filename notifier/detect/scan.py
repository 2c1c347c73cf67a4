"""The detection scan: walk the rows that are due, evaluate the rules, claim notifications.

Each entity row carries ``next_check_at`` (indexed), the earliest moment any rule needs
to look at it again; ingest sets it to "now" whenever a row changes. A tick reads only
rows whose time has come, in batches, so it costs in proportion to what is due rather
than to everything stored. On PostgreSQL a batch is taken ``FOR UPDATE SKIP LOCKED``: any
number of workers scan at once, each on different rows. The notification's unique key
(rule, step, entity, episode) makes creating it exactly-once whatever races remain, and
lets a new occurrence of the situation start its sequence again.

On PostgreSQL a tick scans in two lanes, each a thread with its own connection taking
its own batches: while the server applies one lane's writes (the claims' inserts and
index entries, the next-check updates, the commit), the other lane evaluates its rules,
so the two cores are both at work. SQLite has one writer, whose lock covers a whole
batch, so a second lane would only wait for it: one lane there.
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from notifier.detect.bulk import insert_new, set_by_id
from notifier.detect.episodes import episode_token, legacy_key
from notifier.detect.evaluate import Evaluation, evaluate
from notifier.detect.load import due_probe, due_rows
from notifier.detect.rules import Rule, RuleSet
from notifier.detect.sampling import assign, customer_key
from notifier.domain import Facts
from notifier.store.db import transaction
from notifier.store.facts import facts_of
from notifier.store.lists import among
from notifier.store.snapshots import ENTITY_TABLES
from notifier.store.tables import Notification
from notifier.transit.model import TransitModel

log = logging.getLogger(__name__)
_NOTIFICATIONS: sa.Table = Notification.__table__  # type: ignore[attr-defined]


@dataclass
class ScanResult:
    """What one scan did: rows looked at and notifications created, by status."""

    rows: int = 0
    created: Counter[str] = field(default_factory=Counter)
    created_by_rule: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, status)

    def add(self, other: ScanResult) -> None:
        self.rows += other.rows
        self.created.update(other.created)
        self.created_by_rule.update(other.created_by_rule)


def default_lanes(factory: sessionmaker[Session]) -> int:
    """How many lanes a tick scans in on this database (see the module's docstring)."""
    bind = factory.kw.get("bind")
    return 2 if bind is not None and bind.dialect.name == "postgresql" else 1


def scan(
    factory: sessionmaker[Session], rules: RuleSet, now: datetime, *, batch_size: int = 500,
    transit: TransitModel | None = None, lanes: int | None = None,
) -> ScanResult:
    """Evaluate every due row against its rules as of ``now`` (predicting with ``transit``),
    in ``lanes`` concurrent lanes (default: :func:`default_lanes`)."""
    lanes = default_lanes(factory) if lanes is None else lanes
    result = ScanResult()
    for kind in sorted(_kinds_due(factory, rules.entities, now)):
        scan_lane = partial(_lane, factory, kind, rules.for_entity(kind), now, batch_size,
                            transit)
        if lanes <= 1:
            result.add(scan_lane())
            continue
        # Batches are taken FOR UPDATE SKIP LOCKED, so each lane gets rows the others do
        # not hold; a lane stops at its first short batch (the rest are the others').
        with ThreadPoolExecutor(lanes, thread_name_prefix="detect-lane") as pool:
            for found in [pool.submit(scan_lane) for _ in range(lanes)]:
                result.add(found.result())
    if result.rows:
        log.info(
            "scan at %s: %d rows, created %s", now.isoformat(), result.rows, dict(result.created)
        )
    return result


def _kinds_due(factory: sessionmaker[Session], kinds: frozenset[str],
               now: datetime) -> set[str]:
    """The entity kinds with a row due at ``now``, in one read (no lock, no write
    transaction): an idle tick is this one indexed query, whatever is stored."""
    if not kinds:
        return set()
    with factory() as session:
        found = session.connection().execute(sa.select(*(due_probe(kind, now).label(kind)
                                                        for kind in sorted(kinds)))).one()
    return {kind for kind, row_id in found._asdict().items() if row_id is not None}


def _lane(factory: sessionmaker[Session], kind: str, rules: tuple[Rule, ...], now: datetime,
          batch_size: int, transit: TransitModel | None) -> ScanResult:
    """Scan batches of ``kind``, each in its own transaction, until one comes up short."""
    result = ScanResult()
    while True:
        with transaction(factory) as session:
            taken = _scan_batch(session, kind, rules, now, batch_size, result, transit)
        if taken < batch_size:
            return result


def _scan_batch(
    session: Session,
    kind: str,
    rules: tuple[Rule, ...],
    now: datetime,
    batch_size: int,
    result: ScanResult,
    transit: TransitModel | None = None,
) -> int:
    conn = session.connection()
    rows = due_rows(conn, kind, now, batch_size)
    if not rows:
        return 0
    claims: list[tuple[Any, ...]] = []
    episodes: list[datetime] = []
    next_checks: list[tuple[int, datetime | None]] = []
    for row, facts in zip(rows, facts_of(conn, kind, rows, transit), strict=True):
        upcoming: list[datetime] = []
        for rule in rules:
            verdict = evaluate(rule, facts, now)
            if verdict.error:
                log.warning("rule %s on %s %s: %s", rule.name, kind, row.id, verdict.error)
            _claims(rule, verdict, facts, kind, row.id, now, claims, episodes)
            if verdict.next_at is not None:
                upcoming.append(verdict.next_at)
        next_checks.append((row.id, min(upcoming) if upcoming else None))
    # One statement each for the whole batch: a round trip per row would dominate a tick.
    _insert(conn, claims, episodes, result)
    set_by_id(conn, ENTITY_TABLES[kind].__table__, "next_check_at",  # type: ignore[attr-defined]
              next_checks)
    result.rows += len(rows)
    return len(rows)


#: The columns of a claim row, in the order :func:`_claims` writes them.
_CLAIM_COLUMNS = ("rule", "entity_kind", "entity_id", "customer_id", "purpose", "channels",
                  "detected_at", "due_at", "days_late", "step", "template", "status",
                  "reason", "key", "arm")
_KEY = _CLAIM_COLUMNS.index("key")


def _claims(
    rule: Rule, verdict: Evaluation, facts: Facts, kind: str, entity_id: int, now: datetime,
    out: list[tuple[Any, ...]], episodes: list[datetime],
) -> None:
    """Append to ``out`` the notification rows this verdict asks for (the database drops
    the known ones), and to ``episodes`` each one's episode (see :func:`_without_legacy`)."""
    if not verdict.active or verdict.episode is None:
        return
    episode = verdict.episode
    token = episode_token(episode)
    customer = facts.customer
    channels = (rule.channel_order(customer) if rule.prefer_customer_channel
                else rule.channels)
    # str() of a StrEnum member is its value, without Enum's Python-level ``.value``.
    base = (rule.name, kind, entity_id, customer.id if customer else None, str(rule.purpose),
            list(map(str, channels)), now, now, verdict.days_late)

    def row(step: int, status: str, reason: str | None, arm: str | None = None) -> None:
        out.append((*base, step, rule.steps[step].template, status, reason,
                    f"{legacy_key(rule.name, step, kind, entity_id)}:{token}", arm))
        episodes.append(episode)

    for step in verdict.superseded:
        row(step, "skipped", f"superseded by step {verdict.due} "
                             "(several steps came due at once)")
    for step in verdict.stale:
        row(step, "skipped", f"stale: due at {verdict.schedule[step].isoformat()}, "
                             "older than max_delay")
    for step in verdict.too_old:
        row(step, "skipped", verdict.old_reason)
    if verdict.due is not None:
        key = customer_key(facts)
        group = assign(rule, key) if key else "treated"
        row(verdict.due, *_initial_status(rule, group), arm=group)


def _initial_status(rule: Rule, group: str) -> tuple[str, str | None]:
    if rule.mode == "paused":
        return "skipped", "rule paused"
    if group == "excluded":
        return "skipped", f"outside rollout ({rule.rollout:g}% of customers)"
    if group == "holdout":
        return "held_out", f"control group ({rule.holdout:g}% holdout)"
    if rule.dry_run:
        return "dry_run", "rule in dry-run mode: recorded, not sent"
    return "pending", None


def _insert(conn: sa.Connection, claims: list[tuple[Any, ...]], episodes: list[datetime],
            result: ScanResult) -> None:
    """Insert the claims; the unique key makes rows another tick or worker already
    created a silent no-op, and the database tells how many were really new, by status
    and rule (what the tick reports and the metrics count). One statement per batch
    (:func:`~.bulk.insert_new`).
    """
    claims = _without_legacy(conn, claims, episodes)
    for (status, rule), n in insert_new(conn, _NOTIFICATIONS, _CLAIM_COLUMNS, claims,
                                        key="key", count_by=("status", "rule")).items():
        result.created[status] += n
        result.created_by_rule[(rule, status)] += n


def _without_legacy(conn: sa.Connection, claims: list[tuple[Any, ...]],
                    episodes: list[datetime]) -> list[tuple[Any, ...]]:
    """Drop claims a row from before episodes already covers.

    Such a row's key is (rule, step, entity) alone — the claim's key without its episode
    token (see :func:`~.episodes.notification_key`). It covers the occurrence it was
    detected in: a claim whose episode began before that detection is the same occurrence
    (already notified); one that began after it is a new occurrence.
    """
    if not claims:
        return []
    legacy = [c[_KEY].rpartition(":")[0] for c in claims]
    t = _NOTIFICATIONS
    held = dict(conn.execute(
        sa.select(t.c.key, t.c.detected_at).where(among(conn, t.c.key, legacy))
    ).all())
    if not held:
        return claims
    return [c for c, old, episode in zip(claims, legacy, episodes, strict=True)
            if old not in held or episode > _aware(held[old])]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
