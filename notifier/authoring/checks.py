"""The checks a set must pass before it goes live: ``templates check`` and ``rules check``.

A candidate set (the published one with a draft in its place) is written to a temporary
directory and checked there by the very functions the CLI runs, so the console, an import,
a reload and ``notifier templates check`` refuse the same things. Problems name paths
relative to ``templates/`` or ``rules/`` (or prefixed with the directory imported).
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection
from pathlib import Path

from notifier.authoring.files import Files, write_dir
from notifier.compose import Composer
from notifier.compose.tooling import check_templates
from notifier.config import Settings
from notifier.detect.rules import TemplateExists, check_rules
from notifier.domain import Channel


def template_exists(composer: Composer, default_locale: str) -> TemplateExists:
    """Whether a message has a template on some channel in the shop's locale chain (what
    a rule step needs: the engine refuses rules naming anything else)."""

    def exists(name: str) -> bool:
        return any(composer.available(name, channel, default_locale) for channel in Channel)

    return exists


def composer_over(settings: Settings, templates_dir: Path) -> Composer:
    """The engine's composer, over ``templates_dir`` instead of ``paths.templates_dir``."""
    return Composer(templates_dir, settings.shop, from_addr=settings.email.from_,
                    sms_max_segments=settings.delivery.sms_max_segments)


def check_set(settings: Settings, *, templates: Files, rules: Files,
              render: Collection[str] | None = None, render_templates: bool = True,
              allow_no_rules: bool = False, template_label: str = "",
              rule_label: str = "") -> list[str]:
    """Problems of the candidate set, ``path:line: reason`` each; [] means it may go live.

    The templates are compiled and rendered against the samples (``render``: only those
    messages; ``render_templates=False`` when only rules changed) and the rules checked
    against them (a rule naming a message that is gone is a problem); an empty rule set
    is refused unless ``allow_no_rules``. Labels replace the temporary directory in the
    paths (the directory imported; none: paths relative to templates/ and rules/).
    """
    with tempfile.TemporaryDirectory(prefix="notifier-check-") as tmp:
        templates_dir, rules_dir = Path(tmp) / "templates", Path(tmp) / "rules"
        write_dir(templates, templates_dir)
        write_dir(rules, rules_dir)
        templates_dir.mkdir(exist_ok=True)
        rules_dir.mkdir(exist_ok=True)
        problems: list[str] = []
        if render_templates:
            found = check_templates(templates_dir, settings.shop,
                                    sms_max_segments=settings.delivery.sms_max_segments,
                                    from_addr=settings.email.from_, notes=False, only=render)
            problems += _relabel(found, templates_dir, template_label)
        exists = template_exists(composer_over(settings, templates_dir),
                                 settings.shop.default_locale)
        problems += _relabel(check_rules(rules_dir, template_exists=exists), rules_dir,
                             rule_label)
        if not rules and not allow_no_rules:
            problems.append(f"{rule_label or 'rules/'}: no rules; an empty set is refused")
    return problems


def _relabel(problems: list[str], root: Path, label: str) -> list[str]:
    prefix = f"{root}/"
    return [p.replace(prefix, label) for p in problems]
