"""The engine's rule set: loaded whole or not at all, and reloadable without a restart.

At start-up a broken set is refused (the engine does not start on half the rules). A
running engine told to reload (SIGHUP, ``notifier rules reload``) swaps in the new set
only if all of it is valid; otherwise it keeps the last good set and logs every problem.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from notifier.detect.overrides import Override, effective
from notifier.detect.rules import RuleSet, TemplateExists, load_rules
from notifier.errors import RuleError

log = logging.getLogger(__name__)


class RuleBook:
    def __init__(self, rules_dir: Path, *, template_exists: TemplateExists | None = None,
                 overrides: Callable[[], dict[str, Override]] | None = None) -> None:
        self.rules_dir = rules_dir
        self.template_exists = template_exists
        self.files = load_rules(rules_dir, template_exists=template_exists)
        self.current = self.files
        self.overrides = overrides

    def __call__(self) -> RuleSet:
        return self.current

    def refresh(self) -> None:
        """Lay the console's stored switches (mode, rollout, holdout) over the files;
        called at the start of every tick so all workers follow a change."""
        if self.overrides is not None:
            self.current = effective(self.files, self.overrides())

    def candidate(self) -> tuple[RuleSet | None, list[str]]:
        """The set on disk and its problems; an empty set is a problem too (pending
        notifications would all end as "rule no longer loaded")."""
        try:
            fresh = load_rules(self.rules_dir, template_exists=self.template_exists)
        except RuleError as exc:
            return None, exc.problems
        if not len(fresh):
            return None, [f"{self.rules_dir}: no rules; an empty set is refused "
                          f"(keeping the {len(self.current)} loaded)"]
        return fresh, []

    def adopt(self, rules: RuleSet) -> None:
        self.files = self.current = rules
        self.refresh()
        log.info("rules reloaded: %d rules", len(rules))

    def reload(self) -> list[str]:
        """Try the files on disk; returns the problems (empty: the new set is live)."""
        fresh, problems = self.candidate()
        if fresh is None:
            log.error("rule reload refused, keeping %d rules:\n%s", len(self.current),
                      "\n".join(problems))
            return problems
        self.adopt(fresh)
        return []
