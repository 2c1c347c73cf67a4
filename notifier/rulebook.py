"""The engine's rule set: loaded whole or not at all, and switched without a restart.

At start-up a broken set is refused (the engine does not start on half the rules). The
rules a worker runs are the published set written to a directory
(:class:`notifier.authoring.published.PublishedSet`); when a publish gives a new
directory, :meth:`RuleBook.switch` loads it whole, or keeps the last good set and logs
every problem. The console's switches (mode, rollout, holdout) are laid over at every tick.
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
        self.refused: Path | None = None

    def __call__(self) -> RuleSet:
        return self.current

    def refresh(self) -> None:
        """Lay the console's stored switches (mode, rollout, holdout) over the rules;
        called at the start of every tick so all workers follow a change."""
        if self.overrides is not None:
            self.current = effective(self.files, self.overrides())

    def switch(self, rules_dir: Path) -> list[str]:
        """Run the rules in ``rules_dir`` from now on, if all of them load; otherwise keep
        the current set and return the problems (logged once per directory)."""
        if rules_dir == self.rules_dir:
            return []
        try:
            fresh = load_rules(rules_dir, template_exists=self.template_exists)
        except RuleError as exc:
            if rules_dir != self.refused:
                log.error("rules in %s refused, keeping %d rules:\n%s", rules_dir,
                          len(self.current), "\n".join(exc.problems))
                self.refused = rules_dir
            return exc.problems
        self.rules_dir = rules_dir
        self.adopt(fresh)
        return []

    def adopt(self, rules: RuleSet) -> None:
        self.files = self.current = rules
        self.refresh()
        log.info("rules loaded from %s: %d rules", self.rules_dir, len(rules))
