"""Publishing: check a version, make it live, restore an old one, import and export sets.

A version goes live only if the candidate set it makes (the published set with this
version in place of its name) passes :func:`~notifier.authoring.checks.check_set`;
otherwise nothing is written and the problems are returned. Publishing, restoring,
importing and the first seeding are written to the audit log in the same transaction.

    with transaction(runtime.sessions) as session:
        draft = save_draft(session, "template", "order_unshipped", files, author=me, now=now)
        problems = publish(session, settings, "template", "order_unshipped", draft.id,
                           author=me, now=now)   # [] -> every worker uses it at its next tick
"""

from __future__ import annotations

import difflib
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from notifier.authoring.checks import check_set, composer_over, template_exists
from notifier.authoring.files import (
    KINDS,
    Files,
    Kind,
    SetProblems,
    grouped,
    name_of,
    read_dir,
    write_dir,
)
from notifier.authoring.versions import (
    Version,
    get,
    live_files,
    live_ids,
    mark_live,
    save_draft,
    validate,
)
from notifier.compose import Composer
from notifier.config import Settings
from notifier.detect.rules import RuleSet, load_rules
from notifier.errors import VersionError
from notifier.store import audit
from notifier.store.db import transaction
from notifier.store.locks import lock_until_commit

log = logging.getLogger(__name__)
SEEDED_BY = "notifier (shipped defaults)"
LOCK = "notifier.authoring"  # one writer of the published sets at a time (check, then write)


def source_dir(settings: Settings, kind: Kind) -> Path:
    """The directory of shipped defaults: ``paths.templates_dir`` or ``paths.rules_dir``."""
    return settings.paths.templates_dir if kind == "template" else settings.paths.rules_dir


def _replaced(files: Files, kind: Kind, name: str, new: Files) -> Files:
    out = {path: text for path, text in files.items() if name_of(kind, path) != name}
    out.update(new)
    return out


def _check(session: Session, settings: Settings, kind: Kind, name: str, files: Files
           ) -> list[str]:
    templates, rules = live_files(session, "template"), live_files(session, "rule")
    if kind == "template":
        message = not name.startswith("_")
        return check_set(settings, templates=_replaced(templates, kind, name, files),
                         rules=rules, render={name} if message else None, allow_no_rules=True)
    return check_set(settings, templates=templates, rules=_replaced(rules, kind, name, files),
                     render_templates=False)


def check_draft(session: Session, settings: Settings, kind: Kind, name: str, files: Files
                ) -> list[str]:
    """The problems ``files`` would have live, as ``path:line: reason``; [] means none.

    The same checks as ``notifier templates check`` (the message rendered against the
    samples; every message for ``_layouts``/``_partials``) and ``notifier rules check``
    (the rules against the templates), on the published set with ``files`` in place.
    """
    try:
        validate(kind, name, files)
    except VersionError as exc:
        return [str(exc)]
    return _check(session, settings, kind, name, files)


def _matches(version: Version, kind: Kind, name: str) -> None:
    if version.kind != kind or version.name != name:
        raise VersionError(f"version {version.id} is {version.kind} {version.name!r}, "
                           f"not {kind} {name!r}")


def publish(session: Session, settings: Settings, kind: Kind, name: str, version_id: int, *,
            author: str, now: datetime) -> list[str]:
    """Make a version live for every worker (at its next tick), if its check passes.

    Returns the problems (nothing written) or [] (live, audited as ``<kind>.publish``).
    A version published before and superseded since is restored (copied as a new one).
    """
    lock_until_commit(session, LOCK)
    version = get(session, version_id)
    _matches(version, kind, name)
    if version.state == "published":
        return []
    if version.state == "superseded":
        return restore(session, settings, kind, name, version_id, author=author, now=now)
    problems = _check(session, settings, kind, name, version.files)
    if problems:
        return problems
    before = mark_live(session, version, by=author, now=now)
    audit.record(session, actor=author, action=f"{kind}.publish", target=name, now=now,
                 detail={"version": version.number, "version_id": version.id,
                         "replaces": before.number if before else None, "note": version.note})
    return []


def restore(session: Session, settings: Settings, kind: Kind, name: str, version_id: int, *,
            author: str, now: datetime, note: str = "") -> list[str]:
    """Publish the text of an earlier version again, as a new version (the history keeps
    every step); checked like a publish, audited as ``<kind>.restore``."""
    lock_until_commit(session, LOCK)
    old = get(session, version_id)
    _matches(old, kind, name)
    problems = _check(session, settings, kind, name, old.files)
    if problems:
        return problems
    new = save_draft(session, kind, name, old.files, author=author, now=now,
                     note=note or f"restored from version {old.number}")
    before = mark_live(session, new, by=author, now=now)
    audit.record(session, actor=author, action=f"{kind}.restore", target=name, now=now,
                 detail={"version": new.number, "version_id": new.id,
                         "restored": old.number, "replaces": before.number if before else None})
    return []


# --- whole sets: import, export, the first start, a reload from the files ---------------


@dataclass
class ImportResult:
    """What an import did: refused (``problems``) or the names published and removed."""

    problems: list[str] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0


def _publish_names(session: Session, kind: Kind, groups: dict[str, Files], *, author: str,
                   now: datetime, note: str, action: str, result: ImportResult,
                   remove_missing: bool) -> None:
    current = grouped(kind, live_files(session, kind))
    wanted = dict(groups)
    if remove_missing:
        wanted.update({name: {} for name in current if name not in groups})
    for name, files in sorted(wanted.items()):
        if current.get(name, {}) == files:  # a removed name has no files live either
            result.unchanged += 1
            continue
        version = save_draft(session, kind, name, files, author=author, now=now, note=note)
        before = mark_live(session, version, by=author, now=now)
        (result.published if files else result.removed).append(name)
        audit.record(session, actor=author, action=action, target=name, now=now,
                     detail={"version": version.number, "version_id": version.id,
                             "replaces": before.number if before else None, "note": note})


def import_dir(session: Session, settings: Settings, kind: Kind, directory: Path, *,
               author: str, now: datetime) -> ImportResult:
    """Make the published set of ``kind`` equal to ``directory``, or refuse it whole.

    The directory is checked as ``templates check`` / ``rules check`` would (templates
    with the published rules, rules with the published templates); names it lacks are
    removed, unchanged names get no new version.
    """
    try:
        files = read_dir(kind, directory)
    except SetProblems as exc:
        return ImportResult(problems=exc.problems)
    lock_until_commit(session, LOCK)
    label = f"{directory}/"
    if kind == "template":
        problems = check_set(settings, templates=files, rules=live_files(session, "rule"),
                             allow_no_rules=True, template_label=label)
    else:
        problems = check_set(settings, templates=live_files(session, "template"), rules=files,
                             render_templates=False, rule_label=label)
    if problems:
        return ImportResult(problems=problems)
    result = ImportResult()
    _publish_names(session, kind, grouped(kind, files), author=author, now=now,
                   note=f"imported from {directory}", action=f"{kind}.import", result=result,
                   remove_missing=True)
    return result


def export_dir(session: Session, kind: Kind, directory: Path) -> int:
    """Write the published set of ``kind`` to ``directory`` (new or empty); the file count."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise VersionError(f"{directory}: exists and is not an empty directory")
    files = live_files(session, kind)
    directory.mkdir(parents=True, exist_ok=True)
    write_dir(files, directory)
    return len(files)


def ensure_seeded(sessions: sessionmaker[Session], settings: Settings, *, now: datetime
                  ) -> list[str]:
    """On the first start (nothing published of a kind) the shipped directories become
    version 1 of each name, published; returns the problems that refuse it.

    Rules are checked as start-up always checked them (refused whole, with the files'
    own paths); templates are taken as they are, as start-up always took them (a broken
    one disables its step when it fails to render). Later starts read the database only.
    Two processes starting at once: one seeds, the other waits for it (a lock) and then
    finds the set stored.
    """
    with sessions() as session:
        missing = [kind for kind in KINDS if not live_ids(session, kind)]
    if not missing:
        return []
    try:
        with transaction(sessions) as session:
            lock_until_commit(session, LOCK)
            for kind in KINDS:  # templates first: rules are checked against them
                if kind not in missing or live_ids(session, kind):
                    continue
                directory = source_dir(settings, kind)
                if not directory.is_dir():
                    continue  # nothing shipped: an engine without them, as before
                skipped: list[str] = []
                files = read_dir(kind, directory, skipped=skipped)
                for problem in skipped:
                    log.warning("not stored (not a %s file): %s", kind, problem)
                if kind == "rule":
                    problems = check_set(settings, templates=live_files(session, "template"),
                                         rules=files, render_templates=False,
                                         allow_no_rules=True, rule_label=f"{directory}/")
                    if problems:
                        raise SetProblems(problems)
                result = ImportResult()
                _publish_names(session, kind, grouped(kind, files), author=SEEDED_BY,
                               now=now, note=f"shipped defaults from {directory}",
                               action=f"{kind}.seed", result=result, remove_missing=False)
                log.info("stored the shipped %ss from %s: %d names", kind, directory,
                         len(result.published))
    except SetProblems as exc:
        return exc.problems
    return []


def reload_from_files(sessions: sessionmaker[Session], settings: Settings,
                      baseline: dict[Kind, Files], *, now: datetime, author: str = "reload"
                      ) -> tuple[list[str], dict[Kind, Files]]:
    """SIGHUP / ``rules reload``: publish what changed in the directories since
    ``baseline`` (what they held when this process started or last reloaded), checked
    whole with the rest of the published set; returns (problems, the new baseline).

    Names nobody touched on disk keep their published version, so a reload never undoes
    what was published in the console meanwhile.
    """
    disk: dict[Kind, Files] = {}
    problems: list[str] = []
    for kind in KINDS:
        skipped: list[str] = []  # a README beside the templates is no reason to refuse
        try:
            disk[kind] = read_dir(kind, source_dir(settings, kind), skipped=skipped)
        except SetProblems as exc:
            problems += exc.problems
        for problem in skipped:
            log.warning("not published (not a %s file): %s", kind, problem)
    if problems:
        return problems, baseline
    changed = {kind: _changed_names(kind, baseline.get(kind, {}), disk[kind]) for kind in KINDS}
    if not any(changed.values()):
        return [], disk
    with transaction(sessions) as session:
        lock_until_commit(session, LOCK)
        sets = {kind: live_files(session, kind) for kind in KINDS}
        for kind in KINDS:
            on_disk = grouped(kind, disk[kind])
            for name in changed[kind]:
                sets[kind] = _replaced(sets[kind], kind, name, on_disk.get(name, {}))
        messages = {n for n in changed["template"] if not n.startswith("_")}
        layouts = any(n.startswith("_") for n in changed["template"])
        problems = check_set(settings, templates=sets["template"], rules=sets["rule"],
                             render_templates=bool(changed["template"]),
                             render=None if layouts else messages,
                             allow_no_rules=not changed["rule"],
                             template_label=f"{source_dir(settings, 'template')}/",
                             rule_label=f"{source_dir(settings, 'rule')}/")
        if problems:
            return problems, baseline
        for kind in KINDS:
            on_disk = grouped(kind, disk[kind])
            groups = {name: on_disk.get(name, {}) for name in changed[kind]}
            _publish_names(session, kind, groups, author=author, now=now,
                           note=f"reloaded from {source_dir(settings, kind)}",
                           action=f"{kind}.publish", result=ImportResult(),
                           remove_missing=False)
    return [], disk


def _changed_names(kind: Kind, before: Files, after: Files) -> list[str]:
    old, new = grouped(kind, before), grouped(kind, after)
    return sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))


def disk_baseline(settings: Settings) -> dict[Kind, Files]:
    """What the directories hold now (a reload later publishes only what changes)."""
    out: dict[Kind, Files] = {}
    for kind in KINDS:
        try:
            out[kind] = read_dir(kind, source_dir(settings, kind), skipped=[])
        except SetProblems:  # no such directory
            out[kind] = {}
    return out


# --- drafts for the tools: preview and simulate a draft --------------------------------


@contextmanager
def composer_for(session: Session, settings: Settings, *, name: str | None = None,
                 files: Files | None = None) -> Iterator[Composer]:
    """A composer over the published templates, with ``files`` of ``name`` in their place
    (a draft's preview); valid inside the ``with`` block only."""
    templates = live_files(session, "template")
    if name is not None:
        templates = _replaced(templates, "template", name, files or {})
    with tempfile.TemporaryDirectory(prefix="notifier-draft-") as tmp:
        root = Path(tmp) / "templates"
        write_dir(templates, root)
        root.mkdir(exist_ok=True)
        composer = composer_over(settings, root)
        composer.environment.preload()
        yield composer


def rules_for(session: Session, settings: Settings, *, name: str | None = None,
              files: Files | None = None, check_templates: bool = True) -> RuleSet:
    """The published rules, with ``files`` of rule ``name`` in place (a draft to
    simulate), checked against the published templates unless ``check_templates`` is
    False (a page listing the rules); RuleError if they do not load."""
    rules = live_files(session, "rule")
    if name is not None:
        rules = _replaced(rules, "rule", name, files or {})
    with tempfile.TemporaryDirectory(prefix="notifier-rules-") as tmp:
        root = Path(tmp) / "rules"
        write_dir(rules, root)
        root.mkdir(exist_ok=True)
        if not check_templates:
            return load_rules(root)
        with composer_for(session, settings) as composer:
            return load_rules(root, template_exists=template_exists(
                composer, settings.shop.default_locale))


def diff(old: Files, new: Files) -> str:
    """A unified diff from ``old`` to ``new``, file by file (the review before publishing)."""
    out: list[str] = []
    for path in sorted(old.keys() | new.keys()):
        a, b = old.get(path), new.get(path)
        if a == b:
            continue
        out.extend(difflib.unified_diff(
            (a or "").splitlines(keepends=True), (b or "").splitlines(keepends=True),
            fromfile=f"a/{path}" if a is not None else "/dev/null",
            tofile=f"b/{path}" if b is not None else "/dev/null"))
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)
