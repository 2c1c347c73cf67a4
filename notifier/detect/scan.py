"""The detection scan: walk the rows that are due, evaluate the rules, claim notifications.

Each entity row carries ``next_check_at`` (indexed), the earliest moment any rule needs
to look at it again; ingest sets it to "now" whenever a row changes. A tick reads only
rows whose time has come, in batches, so it costs in proportion to what is due rather
than to everything stored. On PostgreSQL a batch is taken ``FOR UPDATE SKIP LOCKED``: any
number of workers scan at once, each on different rows. The notification's unique key
(rule, step, entity, episode) makes creating it exactly-once whatever races remain, and
lets a new occurrence of the situation start its sequence again.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from notifier.detect.episodes import legacy_key, notification_key
from notifier.detect.evaluate import Evaluation, evaluate
from notifier.detect.facts import Facts
from notifier.detect.rules import Rule, RuleSet
from notifier.detect.sampling import assign, customer_key
from notifier.store.db import transaction
from notifier.store.snapshots import ENTITY_TABLES, related
from notifier.store.tables import Notification
from notifier.transit.model import TransitModel

log = logging.getLogger(__name__)


@dataclass
class ScanResult:
    """What one scan did: rows looked at and notifications created, by status."""

    rows: int = 0
    created: Counter[str] = field(default_factory=Counter)
    created_by_rule: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, status)


def scan(
    factory: sessionmaker[Session], rules: RuleSet, now: datetime, *, batch_size: int = 500,
    transit: TransitModel | None = None,
) -> ScanResult:
    """Evaluate every due row against its rules as of ``now`` (predicting with ``transit``)."""
    result = ScanResult()
    for kind in sorted(rules.entities):
        kind_rules = rules.for_entity(kind)
        while True:
            with transaction(factory) as session:
                taken = _scan_batch(session, kind, kind_rules, now, batch_size, result,
                                    transit)
            if taken < batch_size:
                break
    if result.rows:
        log.info(
            "scan at %s: %d rows, created %s", now.isoformat(), result.rows, dict(result.created)
        )
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
    table = ENTITY_TABLES[kind]
    stmt = (
        select(table)
        .where(col(table.next_check_at) <= now)
        .order_by(col(table.next_check_at))
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )
    rows = session.exec(stmt).all()
    claims: list[dict[str, Any]] = []
    next_checks: list[dict[str, Any]] = []
    for row, snaps in zip(rows, related(session, kind, rows), strict=True):
        facts = Facts(**snaps, transit=transit)
        upcoming: list[datetime] = []
        for rule in rules:
            verdict = evaluate(rule, facts, now)
            if verdict.error:
                log.warning("rule %s on %s %s: %s", rule.name, kind, row.id, verdict.error)
            claims.extend(_claims(rule, verdict, facts, kind, row.id, now))
            if verdict.next_at is not None:
                upcoming.append(verdict.next_at)
        next_checks.append({"rid": row.id, "nca": min(upcoming) if upcoming else None})
    # One statement each for the whole batch: a round trip per row would dominate a tick.
    _insert(session, claims, result)
    if next_checks:
        t = table.__table__  # type: ignore[attr-defined]
        session.execute(
            sa.update(t).where(t.c.id == sa.bindparam("rid"))
            .values(next_check_at=sa.bindparam("nca")),
            next_checks,
        )
    result.rows += len(rows)
    return len(rows)


def _claims(
    rule: Rule, verdict: Evaluation, facts: Facts, kind: str, entity_id: int, now: datetime
) -> list[dict[str, Any]]:
    """The notification rows this verdict asks for (the database drops the known ones)."""
    if not verdict.active or verdict.episode is None:
        return []
    episode = verdict.episode
    base = {
        "rule": rule.name,
        "entity_kind": kind,
        "entity_id": entity_id,
        "customer_id": facts.customer.id if facts.customer else None,
        "purpose": rule.purpose.value,
        "channels": [c.value for c in rule.channel_order(facts.customer)],
        "detected_at": now,
        "due_at": now,
        "days_late": verdict.days_late,
    }

    def row(step: int, status: str, reason: str | None,
            arm: str | None = None) -> dict[str, Any]:
        return {
            **base, "step": step, "template": rule.steps[step].template, "status": status,
            "reason": reason, "key": notification_key(rule.name, step, kind, entity_id, episode),
            # Not a column: lets _insert recognise a row written before keys had episodes.
            "_legacy": (legacy_key(rule.name, step, kind, entity_id), episode),
            "arm": arm,
        }

    out = [row(step, "skipped", f"superseded by step {verdict.due} "
                                "(several steps came due at once)")
           for step in verdict.superseded]
    out += [row(step, "skipped", f"stale: due at {verdict.schedule[step].isoformat()}, "
                                 "older than max_delay")
            for step in verdict.stale]
    out += [row(step, "skipped", verdict.old_reason) for step in verdict.too_old]
    if verdict.due is not None:
        key = customer_key(facts)
        group = assign(rule, key) if key else "treated"
        out.append(row(verdict.due, *_initial_status(rule, group), arm=group))
    return out


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


def _insert(session: Session, claims: list[dict[str, Any]], result: ScanResult) -> None:
    """Insert the claims; the unique key makes rows another tick or worker already
    created a silent no-op, and RETURNING tells which ones were really new."""
    claims = _without_legacy(session, claims)
    if not claims:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(Notification)
        .values(claims)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Notification.status, Notification.rule)  # type: ignore[arg-type]
    )
    for status, rule in session.execute(stmt).all():
        result.created[status] += 1
        result.created_by_rule[(rule, status)] += 1


def _without_legacy(session: Session, claims: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop claims a row from before episodes already covers.

    Such a row's key is (rule, step, entity) alone. It covers the occurrence it was
    detected in: a claim whose episode began before that detection is the same occurrence
    (already notified); one that began after it is a new occurrence.
    """
    legacy = {c["_legacy"][0]: c["_legacy"][1] for c in claims}
    held = session.execute(
        sa.select(Notification.key, Notification.detected_at)  # type: ignore[call-overload]
        .where(col(Notification.key).in_(list(legacy)))
    ).all() if claims else []
    covered = {key for key, detected in held if legacy[key] <= _aware(detected)}
    return [{k: v for k, v in c.items() if k != "_legacy"} for c in claims
            if c["_legacy"][0] not in covered]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
