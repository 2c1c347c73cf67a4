"""A fixture history written straight into the tables: carts assigned by the real sampling,
with a planted conversion effect, so a report's counts and intervals have a known answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from notifier.detect.rules import Rule, RuleSet, parse_rule
from notifier.detect.sampling import assign
from notifier.runtime import Runtime
from notifier.store.db import transaction
from notifier.store.tables import Customer, Notification

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)


def cart_rule(*, holdout: float = 20, rollout: float = 100, name: str = "cart-test") -> Rule:
    return parse_rule(cart_rule_text(holdout=holdout, rollout=rollout, name=name))


def cart_rule_text(*, holdout: float = 20, rollout: float = 100, name: str = "cart-test") -> str:
    return f'''
name = "{name}"
trigger = "cart.abandoned"
purpose = "transactional"
channels = ["email", "sms"]
rollout = {rollout}
holdout = {holdout}
[params]
wait = "1h"
[[steps]]
delay = "0h"
template = "cart_reminder"
[[steps]]
delay = "23h"
template = "cart_reminder_offer"
'''


@dataclass(frozen=True)
class Planted:
    customers: dict[str, int]
    converted: dict[str, int]
    revenue: dict[str, Decimal]
    sent: dict[str, int]  # messages per channel among the rows detected in the period


def plant(runtime: Runtime, rule: Rule, *, carts: int, rates: dict[str, float],
          revenue: Decimal = Decimal("200.00"), first_id: int = 1) -> Planted:
    """``carts`` carts of distinct customers over the period, each with a step-0 row and,
    for the treated, a step-1 row too; in each arm the first ``rate x n`` customers convert
    (on step 0) with ``revenue``. Counts are exact by construction."""
    ids = range(first_id, first_id + carts)
    arms = {i: assign(rule, f"customer:{i}") for i in ids}
    by_arm: dict[str, list[int]] = {"treated": [], "holdout": [], "excluded": []}
    for i in ids:
        by_arm[arms[i]].append(i)
    buyers = {i for arm, members in by_arm.items()
              for i in members[:round(rates.get(arm, 0) * len(members))]}
    span = (END - START) / carts
    customers: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for n, i in enumerate(ids):
        at = START + span * n
        customers.append({"id": i, "source": "api", "external_id": f"c{i}",
                          "email": f"c{i}@example.com", "created_at": at, "updated_at": at})
        arm = arms[i]
        status = {"treated": "delivered", "holdout": "held_out", "excluded": "skipped"}[arm]
        converted = i in buyers
        base = {"rule": rule.name, "entity_kind": "cart", "entity_id": i, "customer_id": i,
                "purpose": "transactional", "channels": ["email", "sms"], "detected_at": at,
                "due_at": at, "arm": arm, "status": status,
                "channel": "email" if arm == "treated" else None,
                "sent_at": at if arm == "treated" else None,
                "delivered_at": at if arm == "treated" else None,
                "reason": {"holdout": "control group", "excluded": "outside rollout (x)"}.get(arm)}
        rows.append({**base, "key": f"{rule.name}:0:cart:{i}", "step": 0,
                     "template": "cart_reminder",
                     "converted_at": at + timedelta(hours=5) if converted else None,
                     "conversion_revenue": revenue if converted else None,
                     "conversion_currency": "PLN" if converted else None})
        if arm == "treated" and not converted:
            later = at + timedelta(hours=23)
            rows.append({**base, "key": f"{rule.name}:1:cart:{i}", "step": 1,
                         "template": "cart_reminder_offer", "detected_at": later,
                         "due_at": later, "channel": "sms", "sent_at": later,
                         "delivered_at": None, "status": "sent", "converted_at": None,
                         "conversion_revenue": None, "conversion_currency": None})
    with transaction(runtime.sessions) as session:
        session.execute(sa.insert(Customer.__table__), customers)  # type: ignore[attr-defined]
        session.execute(sa.insert(Notification.__table__), rows)  # type: ignore[attr-defined]
    sent: dict[str, int] = {}
    for r in rows:
        if r["sent_at"] is not None and r["detected_at"] < END:
            sent[r["channel"]] = sent.get(r["channel"], 0) + 1
    counts = {arm: len(m) for arm, m in by_arm.items() if m}
    conv = {arm: sum(1 for i in m if i in buyers) for arm, m in by_arm.items() if m}
    return Planted(counts, conv, {arm: revenue * c for arm, c in conv.items()}, sent)


def ruleset(*rules: Rule) -> RuleSet:
    return RuleSet(tuple(rules))
