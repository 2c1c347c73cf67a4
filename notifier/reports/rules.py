"""The rules a report compares against (their configured split), when there is no engine."""

from __future__ import annotations

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from notifier.authoring import rules_for
from notifier.config import Settings
from notifier.detect.rules import RuleSet, load_rules
from notifier.errors import RuleError


def current_rules(settings: Settings, sessions: sessionmaker[Session] | None = None
                  ) -> tuple[RuleSet, str | None]:
    """The published rules (the files before anything is stored), or an empty set and
    why: a broken rule file must not stop a report of what already happened."""
    try:
        if sessions is not None:
            with sessions() as session:
                published = rules_for(session, settings, check_templates=False)
            if len(published):
                return published, None
        return load_rules(settings.paths.rules_dir), None
    except RuleError as exc:
        return RuleSet(), f"{len(exc.problems)} problem(s), e.g. {exc.problems[0]}"
