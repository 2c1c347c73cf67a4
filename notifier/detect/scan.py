"""The detection scan: walk the rows that are due, evaluate the rules, claim notifications.

Each entity row carries ``next_check_at`` (indexed), the earliest moment any rule needs
to look at it again; ingest sets it to "now" whenever a row changes. A tick reads only
rows whose time has come, in batches, so it costs in proportion to what is due rather
than to everything stored. On PostgreSQL a batch is taken ``FOR UPDATE SKIP LOCKED``: any
number of workers scan at once, each on different rows. The notification's unique key
(rule, step, entity) makes creating it exactly-once whatever races remain.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from notifier.detect.evaluate import Evaluation, evaluate
from notifier.detect.facts import Facts
from notifier.detect.rules import Rule, RuleSet
from notifier.detect.sampling import assign, customer_key
from notifier.store.db import transaction
from notifier.store.snapshots import ENTITY_TABLES, related
from notifier.store.tables import Notification

log = logging.getLogger(__name__)


@dataclass
class ScanResult:
    """What one scan did: rows looked at and notifications created, by status."""

    rows: int = 0
    created: Counter[str] = field(default_factory=Counter)


def notification_key(rule: str, step: int, kind: str, entity_id: int) -> str:
    return f"{rule}:{step}:{kind}:{entity_id}"


def scan(
    factory: sessionmaker[Session], rules: RuleSet, now: datetime, *, batch_size: int = 500
) -> ScanResult:
    """Evaluate every due row against its rules as of ``now``."""
    result = ScanResult()
    for kind in sorted(rules.entities):
        kind_rules = rules.for_entity(kind)
        while True:
            with transaction(factory) as session:
                taken = _scan_batch(session, kind, kind_rules, now, batch_size, result)
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
    for row, snaps in zip(rows, related(session, kind, rows), strict=True):
        facts = Facts(**snaps)
        upcoming: list[datetime] = []
        for rule in rules:
            verdict = evaluate(rule, facts, now)
            if verdict.error:
                log.warning("rule %s on %s %s: %s", rule.name, kind, row.id, verdict.error)
            _claim(session, rule, verdict, facts, kind, row.id, now, result)
            if verdict.next_at is not None:
                upcoming.append(verdict.next_at)
        row.next_check_at = min(upcoming) if upcoming else None
        session.add(row)
    result.rows += len(rows)
    return len(rows)


def _claim(
    session: Session,
    rule: Rule,
    verdict: Evaluation,
    facts: Facts,
    kind: str,
    entity_id: int,
    now: datetime,
    result: ScanResult,
) -> None:
    if not verdict.active:
        return
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
    for step in verdict.superseded:
        _insert(
            session,
            base,
            rule,
            step,
            "skipped",
            f"superseded by step {verdict.due} (several steps came due at once)",
            result,
        )
    for step in verdict.stale:
        _insert(
            session,
            base,
            rule,
            step,
            "skipped",
            f"stale: due at {verdict.schedule[step].isoformat()}, older than max_delay",
            result,
        )
    if verdict.due is None:
        return
    status, reason = _initial_status(rule, facts)
    _insert(session, base, rule, verdict.due, status, reason, result)


def _initial_status(rule: Rule, facts: Facts) -> tuple[str, str | None]:
    key = customer_key(facts)
    group = assign(rule, key) if key else "treated"
    if group == "excluded":
        return "skipped", f"outside rollout ({rule.rollout:g}% of customers)"
    if group == "holdout":
        return "held_out", f"control group ({rule.holdout:g}% holdout)"
    if rule.dry_run:
        return "dry_run", "rule in dry-run mode: recorded, not sent"
    return "pending", None


def _insert(
    session: Session,
    base: dict[str, Any],
    rule: Rule,
    step: int,
    status: str,
    reason: str | None,
    result: ScanResult,
) -> None:
    values = {
        **base,
        "step": step,
        "template": rule.steps[step].template,
        "status": status,
        "reason": reason,
        "key": notification_key(rule.name, step, base["entity_kind"], base["entity_id"]),
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(Notification).values(**values).on_conflict_do_nothing(index_elements=["key"])
    if session.exec(stmt).rowcount:  # type: ignore[call-overload]
        result.created[status] += 1
