"""Rule switches made in the console (mode, rollout, holdout), laid over the rule files.

The files stay as written; an operator's change is a ``rule_settings`` row (and an audit
entry, in the same transaction). Every worker reads the rows at the start of each tick
(:meth:`notifier.rulebook.RuleBook.refresh`), so a change reaches all of them within one
tick without a reload or restart.

    change_rule(session, rule="cart-abandoned", mode="paused", actor="ops@shop.pl", now=now)
    effective(rules, read_overrides(session))   # the rule set workers apply
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import get_args

from sqlmodel import Session, select

from notifier.detect.rules import Mode, RuleSet
from notifier.errors import RuleError
from notifier.store import audit
from notifier.store.console_tables import RuleSetting

MODES: tuple[str, ...] = get_args(Mode)


@dataclass(frozen=True)
class Override:
    mode: str | None = None
    rollout: float | None = None
    holdout: float | None = None


def read_overrides(session: Session) -> dict[str, Override]:
    return {row.rule: Override(row.mode, row.rollout, row.holdout)
            for row in session.exec(select(RuleSetting)).all()}


def effective(rules: RuleSet, overrides: dict[str, Override]) -> RuleSet:
    """The rule set with each override's non-empty fields replacing the file's."""
    if not overrides:
        return rules
    out = []
    for rule in rules:
        o = overrides.get(rule.name)
        if o is None:
            out.append(rule)
            continue
        out.append(replace(
            rule,
            mode=o.mode if o.mode in MODES else rule.mode,  # type: ignore[arg-type]
            rollout=rule.rollout if o.rollout is None else o.rollout,
            holdout=rule.holdout if o.holdout is None else o.holdout))
    return RuleSet(tuple(out))


def change_rule(session: Session, *, rules: RuleSet, rule: str, actor: str, now: datetime,
                mode: str | None = None, rollout: float | None = None,
                holdout: float | None = None) -> Override:
    """Store a change to one rule and audit it; refuses unknown rules and bad values."""
    current = rules.get(rule)
    if current is None:
        raise RuleError([f"rule: no rule named {rule!r}"])
    problems = []
    if mode is not None and mode not in MODES:
        problems.append(f"mode: {mode!r} is not one of {', '.join(MODES)}")
    for name, value in (("rollout", rollout), ("holdout", holdout)):
        if value is not None and not 0 <= value <= 100:
            problems.append(f"{name}: {value:g} is not between 0 and 100")
    if problems:
        raise RuleError(problems)
    row = session.get(RuleSetting, rule) or RuleSetting(rule=rule, updated_at=now,
                                                        updated_by=actor)
    before = {"mode": row.mode or current.mode, "rollout": _or(row.rollout, current.rollout),
              "holdout": _or(row.holdout, current.holdout)}
    if mode is not None:
        row.mode = mode
    if rollout is not None:
        row.rollout = rollout
    if holdout is not None:
        row.holdout = holdout
    row.updated_at, row.updated_by = now, actor
    session.add(row)
    after = {"mode": row.mode or current.mode, "rollout": _or(row.rollout, current.rollout),
             "holdout": _or(row.holdout, current.holdout)}
    audit.record(session, actor=actor, action="rule.change", target=rule, now=now,
                 detail={"before": before, "after": after})
    return Override(row.mode, row.rollout, row.holdout)


def _or(value: float | None, default: float) -> float:
    return default if value is None else value
