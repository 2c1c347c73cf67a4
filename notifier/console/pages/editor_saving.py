"""Saving from an editor: every save is a version, but publishing what was just saved as
a draft publishes that draft instead of storing the same text twice."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlmodel import Session

from notifier import authoring
from notifier.console.auth import Permission
from notifier.console.web import BASE, Console, Visitor
from notifier.store.db import transaction


def actor(visitor: Visitor) -> str:
    """Who a version or an audit line names: the signed-in user's email."""
    return visitor.user.email if visitor.user else "?"


def save(session: Session, kind: authoring.Kind, name: str, files: dict[str, str], *,
         author: str, note: str, now: datetime) -> authoring.Version:
    """The newest version if it is a draft with exactly ``files``, else a new one."""
    history = authoring.history(session, kind, name)
    newest = history[0] if history else None
    if newest is not None and newest.state == "draft" and newest.files == files:
        return newest
    return authoring.save_draft(session, kind, name, files, author=author, note=note, now=now)


def add_restore_route(router: APIRouter, console: Console, kind: authoring.Kind,
                      permission: Permission) -> None:
    """``POST /editor/<kind>s/{name}/restore/{version_id}``: publish an older version again
    (checked like a publish; refused with its problems as a 400, an unknown id a 404)."""
    runtime, settings = console.runtime, console.runtime.settings

    @router.post(f"/editor/{kind}s/{{name}}/restore/{{version_id}}")
    async def restore(name: str, version_id: int,
                      visitor: Visitor = Depends(console.action(permission))) -> Response:
        def run() -> list[str]:
            with transaction(runtime.sessions) as session:
                return authoring.restore(session, settings, kind, name, version_id,
                                         author=actor(visitor), now=console.now())

        try:
            problems = await run_in_threadpool(run)
        except authoring.VersionError as exc:
            raise HTTPException(404, "notfound") from exc
        if problems:
            raise HTTPException(400, "; ".join(problems))
        return console.redirect(f"{BASE}/editor/{kind}s/{name}?restored={version_id}")
