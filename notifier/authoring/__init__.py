"""Stored versions of templates and rules: drafts, checks, publishing, restoring.

Sits above store, compose and detect (like the orchestration): the console's editors,
the CLI and the workers use it; no stage imports it. Published versions live in the
database so every worker uses the same set (see :mod:`notifier.authoring.published`);
``templates/`` and ``rules/`` are the shipped defaults, stored as version 1 on the first
start (:func:`ensure_seeded`), and the format of ``notifier templates|rules export|import``.

    with transaction(runtime.sessions) as session:
        draft = save_draft(session, "rule", "cart-abandoned", {"cart-abandoned.toml": text},
                           author="ops@shop.pl", now=now, note="first reminder after 2h")
        problems = check_draft(session, settings, "rule", "cart-abandoned", draft.files)
        problems = publish(session, settings, "rule", "cart-abandoned", draft.id,
                           author="ops@shop.pl", now=now)   # [] -> live at the next tick
"""

from notifier.authoring.files import KINDS, Files, Kind
from notifier.authoring.publishing import (
    ImportResult,
    check_draft,
    composer_for,
    diff,
    ensure_seeded,
    export_dir,
    import_dir,
    publish,
    restore,
    rules_for,
)
from notifier.authoring.versions import Version, get, history, live, names, save_draft
from notifier.errors import VersionError

__all__ = ["KINDS", "Files", "ImportResult", "Kind", "Version", "VersionError", "check_draft",
           "composer_for", "diff", "ensure_seeded", "export_dir", "get", "history",
           "import_dir", "live", "names", "publish", "restore", "rules_for", "save_draft"]
