"""Evaluate one rule against one case at a given moment: what is due now, and when to look again.

Pure: no clock, no database. The scan feeds it snapshots and ``now``; it answers with an
:class:`Evaluation` the caller acts on — claim the ``due`` step, record ``superseded`` and
``stale`` steps as skipped, store ``next_at`` as the row's ``next_check_at``. Which steps
were already sent is the database's business (a unique key per rule, step and entity), so
an evaluation may name a step that was claimed on an earlier tick; claiming it again is a
no-op.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from notifier.detect.conditions import ConditionFailed
from notifier.detect.facts import Facts
from notifier.detect.rules import Rule
from notifier.detect.triggers import days_late


@dataclass(frozen=True)
class Evaluation:
    """A rule's verdict on one case at ``now``.

    ``active``      the trigger applies and the ``when`` condition holds; the sequence is
                    open (its anchor may still lie ahead). False stops the sequence.
    ``anchor``      when the trigger's situation is (or will be) reached; None if it does
                    not apply.
    ``schedule``    each step's due time (anchor + delay), in step order.
    ``due``         the step to create now: the latest step whose time has come and is not
                    older than ``max_delay``. After downtime only this one is sent.
    ``superseded``  earlier steps whose time has come, passed over for ``due``.
    ``stale``       steps whose time is older than ``max_delay``: skipped, never sent late.
    ``next_at``     the next step's due time after ``now`` — when to look at this case again
                    (None: nothing ahead; a change to the row will bring it back).
    ``days_late``   how late the delivery is, in days (see :func:`~.triggers.days_late`).
    ``reason``      what the trigger saw, or why the rule is inactive.
    ``error``       set when the ``when`` condition raised; the case is then inactive.
    """

    rule: str
    active: bool
    anchor: datetime | None = None
    schedule: tuple[datetime, ...] = ()
    due: int | None = None
    superseded: tuple[int, ...] = ()
    stale: tuple[int, ...] = ()
    next_at: datetime | None = None
    days_late: int = 0
    reason: str = ""
    error: str | None = None


def condition_values(facts: Facts, now: datetime, late: int) -> dict[str, Any]:
    """The names a ``when`` condition sees; templates may reuse the same mapping."""
    return {
        "customer": facts.customer,
        "order": facts.order,
        "shipment": facts.shipment,
        "cart": facts.cart,
        "now": now,
        "days_late": late,
    }


def evaluate(rule: Rule, facts: Facts, now: datetime) -> Evaluation:
    """Evaluate ``rule`` on ``facts`` at ``now``.

    An inactive evaluation has no ``due`` step. When only the condition is false, ``next_at``
    still points at the next step, so a condition that depends on time (``days_late``) is
    looked at again then.
    """
    check = rule.trigger.check(facts, rule.params, now)
    late = days_late(facts, now)
    if check.anchor is None:
        return Evaluation(rule.name, active=False, days_late=late, reason=check.reason)
    anchor = check.anchor
    schedule = tuple(anchor + step.delay for step in rule.steps)
    next_at = next((t for t in schedule if t > now), None)
    base = Evaluation(
        rule.name, active=False, anchor=anchor, schedule=schedule, next_at=next_at, days_late=late
    )

    if rule.condition is not None:
        try:
            holds = rule.condition.holds(condition_values(facts, now, late))
        except ConditionFailed as exc:
            return replace(base, reason="condition failed", error=str(exc))
        if not holds:
            return replace(base, reason="condition false")

    come = [i for i, t in enumerate(schedule) if t <= now]
    stale = tuple(i for i in come if now - schedule[i] > rule.max_delay)
    fresh = [i for i in come if i not in stale]
    return replace(
        base,
        active=True,
        due=fresh[-1] if fresh else None,
        superseded=tuple(fresh[:-1]),
        stale=stale,
        reason=check.reason,
    )


def still_active(rule: Rule, facts: Facts, now: datetime, *, step: int | None = None) -> bool:
    """Whether the reason for ``rule`` holds at ``now``; the dispatcher asks before a late send.

    With ``step``, also whether that step is due and not past ``max_delay``: a message
    deferred by a frequency cap for too long is dropped rather than sent late, and a cart
    touched again since (its anchor moved ahead) gets no reminder.
    """
    result = evaluate(rule, facts, now)
    if not result.active or result.anchor is None or result.anchor > now:
        return False
    if step is None:
        return True
    if not 0 <= step < len(result.schedule):
        return False
    due_at = result.schedule[step]
    return due_at <= now and now - due_at <= rule.max_delay
