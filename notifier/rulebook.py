"""The engine's rule set: loaded whole or not at all, and reloadable without a restart.

At start-up a broken set is refused (the engine does not start on half the rules). A
running engine told to reload (SIGHUP, ``notifier rules reload``) swaps in the new set
only if all of it is valid; otherwise it keeps the last good set and logs every problem.
"""

from __future__ import annotations

import logging
from pathlib import Path

from notifier.detect.rules import RuleSet, TemplateExists, load_rules
from notifier.errors import RuleError

log = logging.getLogger(__name__)


class RuleBook:
    def __init__(self, rules_dir: Path, *, template_exists: TemplateExists | None = None) -> None:
        self.rules_dir = rules_dir
        self.template_exists = template_exists
        self.current = load_rules(rules_dir, template_exists=template_exists)

    def __call__(self) -> RuleSet:
        return self.current

    def reload(self) -> list[str]:
        """Try the files on disk; returns the problems (empty: the new set is live)."""
        try:
            fresh = load_rules(self.rules_dir, template_exists=self.template_exists)
        except RuleError as exc:
            log.error("rule reload refused, keeping %d rules:\n%s", len(self.current),
                      "\n".join(exc.problems))
            return exc.problems
        self.current = fresh
        log.info("rules reloaded: %d rules", len(fresh))
        return []
