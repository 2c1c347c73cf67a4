"""The rules a report compares against (their configured split), when there is no engine."""

from __future__ import annotations

from notifier.config import Settings
from notifier.detect.rules import RuleSet, load_rules
from notifier.errors import RuleError


def current_rules(settings: Settings) -> tuple[RuleSet, str | None]:
    """The rules on disk, or an empty set and why: a broken rule file must not stop a
    report of what already happened."""
    try:
        return load_rules(settings.paths.rules_dir), None
    except RuleError as exc:
        return RuleSet(), f"{len(exc.problems)} problem(s), e.g. {exc.problems[0]}"
