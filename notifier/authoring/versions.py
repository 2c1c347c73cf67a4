"""Stored versions: save a draft, read one, a name's history, what is live.

Every save is a new numbered version of one name (a template folder or a rule file); a
draft is a version never published. Functions take a session and add rows; the caller's
transaction commits them (``with transaction(runtime.sessions) as session: ...``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from notifier.authoring.files import KINDS, Files, Kind, name_problem, path_problem
from notifier.errors import VersionError
from notifier.store.authoring_tables import ContentVersion, LiveContent

State = Literal["draft", "published", "superseded"]


@dataclass(frozen=True)
class Version:
    """One saved version of a message's templates or of a rule file.

    ``state``: ``published`` is the live one, ``superseded`` was live once, ``draft`` never
    was (no worker has it). ``files`` maps paths relative to ``templates/`` or ``rules/``
    to text; empty means the name was removed (by an import of a set without it).
    """

    id: int
    kind: Kind
    name: str
    number: int
    files: dict[str, str]
    author: str | None
    note: str
    created_at: datetime
    state: State
    published_at: datetime | None = None
    published_by: str | None = None


def _version(row: ContentVersion, live_id: int | None) -> Version:
    assert row.id is not None
    state: State = ("published" if row.id == live_id
                    else "superseded" if row.published_at is not None else "draft")
    return Version(id=row.id, kind=row.kind, name=row.name,  # type: ignore[arg-type]
                   number=row.number, files=dict(row.files), author=row.author, note=row.note,
                   created_at=row.created_at, state=state, published_at=row.published_at,
                   published_by=row.published_by)


def validate(kind: str, name: str, files: Files) -> None:
    """Refuse a kind, name or path that cannot be stored (VersionError naming it)."""
    if kind not in KINDS:
        raise VersionError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    problems = [p for p in [name_problem(kind, name),  # type: ignore[arg-type]
                            *(path_problem(kind, name, path) for path in files)] if p]  # type: ignore[arg-type]
    problems += [f"{path}: text expected" for path, text in files.items()
                 if not isinstance(text, str)]
    if problems:
        raise VersionError("; ".join(problems))


def save_draft(session: Session, kind: Kind, name: str, files: Files, *, author: str | None,
               now: datetime, note: str = "") -> Version:
    """Store ``files`` as the next version of ``name``, unpublished.

    ``files`` is the whole name (every locale and channel of a message), not a patch.
    Two saves of one name at once get consecutive numbers (the database arbitrates).
    """
    validate(kind, name, files)
    for attempt in range(5):
        number = (session.exec(select(sa.func.max(ContentVersion.number)).where(
            ContentVersion.kind == kind, ContentVersion.name == name)).one() or 0) + 1
        row = ContentVersion(kind=kind, name=name, number=number, files=dict(files),
                             author=author, note=note, created_at=now)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            if attempt == 4:
                raise
            continue
        return _version(row, None)
    raise AssertionError("unreachable")


def get(session: Session, version_id: int) -> Version:
    row = session.get(ContentVersion, version_id)
    if row is None:
        raise VersionError(f"version: no version {version_id}")
    live = session.get(LiveContent, (row.kind, row.name))
    return _version(row, live.version_id if live else None)


def history(session: Session, kind: Kind, name: str) -> list[Version]:
    """Every version of ``name``, newest first."""
    live = session.get(LiveContent, (kind, name))
    rows = session.exec(select(ContentVersion).where(
        ContentVersion.kind == kind, ContentVersion.name == name)
        .order_by(col(ContentVersion.number).desc())).all()
    return [_version(row, live.version_id if live else None) for row in rows]


def live(session: Session, kind: Kind, name: str) -> Version | None:
    """The published version of ``name``; None if it has none (or it was removed)."""
    found = session.get(LiveContent, (kind, name))
    if found is None:
        return None
    version = get(session, found.version_id)
    return version if version.files else None


def live_ids(session: Session, kind: Kind) -> dict[str, int]:
    """name -> live version id: what a worker compares at every tick (one small query)."""
    rows = session.exec(select(LiveContent.name, LiveContent.version_id)
                        .where(LiveContent.kind == kind)).all()
    return dict(rows)


def live_files(session: Session, kind: Kind, ids: dict[str, int] | None = None) -> Files:
    """The whole published set of ``kind``, flat (path -> text)."""
    ids = live_ids(session, kind) if ids is None else ids
    if not ids:
        return {}
    rows = session.exec(select(ContentVersion.files)
                        .where(col(ContentVersion.id).in_(list(ids.values())))).all()
    out: Files = {}
    for files in rows:
        out.update(files)
    return out


def names(session: Session, kind: Kind) -> list[str]:
    """Every name with a live version, sorted (for templates: messages, ``_layouts``...)."""
    rows = session.exec(select(LiveContent.name, ContentVersion.files)
                        .join(ContentVersion, col(ContentVersion.id) == LiveContent.version_id)
                        .where(LiveContent.kind == kind)).all()
    return sorted(name for name, files in rows if files)


def mark_live(session: Session, version: Version, *, by: str, now: datetime) -> Version | None:
    """Make ``version`` the live one of its name; returns the one it replaces."""
    row = session.get(ContentVersion, version.id)
    assert row is not None
    if row.published_at is None:
        row.published_at, row.published_by = now, by
        session.add(row)
    current = session.get(LiveContent, (version.kind, version.name))
    before = get(session, current.version_id) if current is not None else None
    if current is None:
        current = LiveContent(kind=version.kind, name=version.name, version_id=version.id,
                              published_at=now, published_by=by)
    else:
        current.version_id, current.published_at, current.published_by = version.id, now, by
    session.add(current)
    session.flush()
    return before
