"""Detection: which cases a rule must act on, and when.

The pure half lives here — rule files (:mod:`.rules`), triggers and their anchors
(:mod:`.triggers`), ``when`` conditions (:mod:`.conditions`), :func:`evaluate`, rollout
groups (:mod:`.sampling`) and replaying history (:mod:`.history`). The database half — scan
rows whose ``next_check_at`` is due, claim notifications — calls it with snapshots and ``now``.
"""

from notifier.detect.evaluate import Evaluation, evaluate, still_active
from notifier.detect.history import facts_as_of
from notifier.detect.rules import Rule, RuleSet, Step, check_rules, load_rules, parse_rule
from notifier.detect.sampling import assign, customer_key
from notifier.detect.triggers import TRIGGERS, Trigger, days_late
from notifier.domain import Facts

__all__ = [
    "TRIGGERS",
    "Evaluation",
    "Facts",
    "Rule",
    "RuleSet",
    "Step",
    "Trigger",
    "assign",
    "check_rules",
    "customer_key",
    "days_late",
    "evaluate",
    "facts_as_of",
    "load_rules",
    "parse_rule",
    "still_active",
]
