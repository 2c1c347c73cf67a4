"""Saving from an editor: every save is a version, but publishing what was just saved as
a draft publishes that draft instead of storing the same text twice."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from notifier import authoring


def save(session: Session, kind: authoring.Kind, name: str, files: dict[str, str], *,
         author: str, note: str, now: datetime) -> authoring.Version:
    """The newest version if it is a draft with exactly ``files``, else a new one."""
    history = authoring.history(session, kind, name)
    newest = history[0] if history else None
    if newest is not None and newest.state == "draft" and newest.files == files:
        return newest
    return authoring.save_draft(session, kind, name, files, author=author, note=note, now=now)
