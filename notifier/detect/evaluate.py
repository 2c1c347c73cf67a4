"""Evaluate one rule against one case at a given moment: what is due now, and when to look again.

Pure: no clock, no database. The scan feeds it snapshots and ``now``; it answers with an
:class:`Evaluation` the caller acts on — claim the ``due`` step, record ``superseded`` and
``stale`` and ``too_old`` steps as skipped, store ``next_at`` as the row's
``next_check_at``. Which steps were already sent is the database's business (a unique key
per rule, step, entity and episode), so an evaluation may name a step that was claimed on
an earlier tick; claiming it again is a no-op.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifier.config_types import format_duration
from notifier.detect.conditions import ConditionFailed
from notifier.detect.episodes import episode_token, key_token
from notifier.detect.rules import Rule
from notifier.detect.triggers import days_late
from notifier.domain import Facts, frozen


@dataclass(frozen=True)
class Evaluation:
    """A rule's verdict on one case at ``now``.

    ``active``      the trigger applies and the ``when`` condition holds; the sequence is
                    open (its anchor may still lie ahead). False stops the sequence.
    ``anchor``      when the trigger's situation is (or will be) reached; None if it does
                    not apply.
    ``episode``     which occurrence of the situation this is (it joins the notification
                    key, see :mod:`~.episodes`).
    ``schedule``    each step's due time (anchor + delay), in step order.
    ``due``         the step to create now: the latest step whose time has come and is not
                    older than ``max_delay``. After downtime only this one is sent.
    ``superseded``  earlier steps whose time has come, passed over for ``due``.
    ``stale``       steps whose time is older than ``max_delay``: skipped, never sent late.
                    A rule without ``max_delay`` sends while the reason holds: never stale.
    ``too_old``     steps that came while the case is older than the rule's ``lookback``
                    (the order placed too long ago): skipped, ``old_reason`` says why.
    ``next_at``     the next step's due time after ``now`` — when to look at this case again
                    (None: nothing ahead; a change to the row will bring it back).
    ``days_late``   how late the delivery is, in days (see :func:`~.triggers.days_late`).
    ``reason``      what the trigger saw, or why the rule is inactive.
    ``error``       set when the ``when`` condition raised; the case is then inactive.
    """

    rule: str
    active: bool
    anchor: datetime | None = None
    episode: datetime | None = None
    schedule: tuple[datetime, ...] = ()
    due: int | None = None
    superseded: tuple[int, ...] = ()
    stale: tuple[int, ...] = ()
    too_old: tuple[int, ...] = ()
    old_reason: str = ""
    next_at: datetime | None = None
    days_late: int = 0
    reason: str = ""
    error: str | None = None


#: The fields an Evaluation defaults; a verdict is built as ``frozen(Evaluation, {**_BLANK,
#: ...})``: a tick builds one per rule per due row, and the dataclass ``__init__`` cost
#: twice as much.
_BLANK = {f.name: f.default for f in dataclasses.fields(Evaluation)
          if f.default is not dataclasses.MISSING}


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
    anchor = check.anchor
    if anchor is None:
        return frozen(Evaluation, {**_BLANK, "rule": rule.name, "active": False,
                                   "days_late": late, "reason": check.reason})
    # Built once at the end (no dataclasses.replace): a tick evaluates every rule of
    # every due row, so this function's own cost counts.
    schedule = tuple([anchor + step.delay for step in rule.steps])
    next_at = None
    come = []  # the steps whose time has come, in step order
    for i, at in enumerate(schedule):
        if at <= now:
            come.append(i)
        elif next_at is None:
            next_at = at
    episode = check.occurrence

    if rule.condition is not None:
        reason, error = "", None
        try:
            if not rule.condition.holds(condition_values(facts, now, late)):
                reason = "condition false"
        except ConditionFailed as exc:
            reason, error = "condition failed", str(exc)
        if reason:
            return frozen(Evaluation, {
                **_BLANK, "rule": rule.name, "active": False, "anchor": anchor,
                "episode": episode, "schedule": schedule, "next_at": next_at,
                "days_late": late, "reason": reason, "error": error})

    overdue = [i for i in come if _overdue(rule, now, schedule[i])] if come else come
    stale = tuple(overdue)
    fresh = [i for i in come if i not in stale] if overdue else come
    if fresh and (old := outside_lookback(rule, facts, now)):
        return frozen(Evaluation, {
            **_BLANK, "rule": rule.name, "active": True, "anchor": anchor,
            "episode": episode, "schedule": schedule, "stale": stale,
            "too_old": tuple(fresh), "old_reason": old, "next_at": next_at,
            "days_late": late, "reason": check.reason})
    return frozen(Evaluation, {
        **_BLANK, "rule": rule.name, "active": True, "anchor": anchor, "episode": episode,
        "schedule": schedule, "due": fresh[-1] if fresh else None,
        "superseded": tuple(fresh[:-1]), "stale": stale, "next_at": next_at,
        "days_late": late, "reason": check.reason})


def _overdue(rule: Rule, now: datetime, due_at: datetime) -> bool:
    return rule.max_delay is not None and now - due_at > rule.max_delay


def outside_lookback(rule: Rule, facts: Facts, now: datetime) -> str:
    """Why the case is too old for ``rule`` (its order placed before the ``lookback``), or
    "" when it is not. A case without a placement time (a cart) is never held back."""
    placed = facts.order.placed_at if facts.order else None
    if rule.lookback is None or placed is None or now - placed <= rule.lookback:
        return ""
    return (f"lookback: order placed {placed.isoformat()}, more than "
            f"{format_duration(rule.lookback)} before {now.isoformat()}")


def still_active(rule: Rule, facts: Facts, now: datetime, *, step: int | None = None,
                 key: str | None = None) -> bool:
    """Whether the reason for ``rule`` holds at ``now``; see :func:`reason_gone`."""
    return reason_gone(rule, facts, now, step=step, key=key) is None


def reason_gone(rule: Rule, facts: Facts, now: datetime, *, step: int | None = None,
                key: str | None = None) -> str | None:
    """Why a notification of ``rule`` should no longer go out at ``now``; None if it should.

    The dispatcher asks before a (possibly late) send. With ``key`` (the notification's),
    also whether it is about the occurrence that holds now: a reminder for a cart
    abandoned, touched again and abandoned again belongs to the earlier episode and is not
    sent (the new episode has its own). A legacy key (from before episodes) is not
    checked for its episode.

    With ``step``, also whether that step is due and not past ``max_delay``: a message
    deferred by a frequency cap for too long is dropped rather than sent late, and a cart
    touched again since (its anchor moved ahead) gets no reminder.
    """
    result = evaluate(rule, facts, now)
    if not result.active or result.anchor is None:
        return result.reason or "the step is no longer due"
    if result.anchor > now:
        return f"the situation starts again at {result.anchor.isoformat()}"
    if key is not None and result.episode is not None:
        token = key_token(key)
        if token is not None and token != episode_token(result.episode):
            return f"a new occurrence began at {result.episode.isoformat()}"
    if step is None:
        return None
    if not 0 <= step < len(result.schedule):
        return f"rule has no step {step}"
    due_at = result.schedule[step]
    if due_at > now:
        return f"step {step} not due before {due_at.isoformat()}"
    if _overdue(rule, now, due_at):
        return f"stale: due at {due_at.isoformat()}, older than max_delay"
    return None
