"""Clicks on tracked links and opens of tracked emails, with scanner filtering.

Mail security gateways (Microsoft Defender Safe Links, Proofpoint, Mimecast, Barracuda)
fetch links before the customer sees the message; counting those would credit every
email with a click. A request is kept but not counted (``counted`` false, ``flag`` says
why) when it is a ``HEAD``, comes within ``scanner_grace_s`` of sending, announces a
scanner in its User-Agent, or is part of a burst that opened every link of the message
within ``burst_s`` (the earlier clicks of that burst are uncounted too). The
notification's ``clicks`` and ``clicked_at`` are recomputed from the counted rows.

Opens are recorded once as ``opened_at``: information only, never attribution (Apple
Mail Privacy Protection loads every pixel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, func, select

from notifier.store.db import dialect_insert, transaction
from notifier.store.tables import Notification
from notifier.store.track_tables import LinkClick, MessageLink

SCANNER_AGENTS = ("bot", "spider", "crawler", "preview", "scanner", "safelinks", "proofpoint",
                  "mimecast", "barracuda", "urldefense", "python-requests", "curl/", "wget")


@dataclass(frozen=True)
class ScannerRules:
    """Thresholds of the scanner heuristics (``[track]`` settings)."""

    grace: timedelta = timedelta(seconds=10)
    burst: timedelta = timedelta(seconds=5)


def store_links(session: Session, *, notification_id: int, urls: Sequence[str],
                kinds: Sequence[str] | None = None) -> None:
    """Remember the destinations a message was sent with (a resend keeps the same index)."""
    if not urls:
        return
    insert = dialect_insert(session)(MessageLink.__table__)  # type: ignore[attr-defined]
    rows = [{"notification_id": notification_id, "link_index": i, "url": url,
             "kind": (kinds[i] if kinds else "link")} for i, url in enumerate(urls)]
    stmt = insert.on_conflict_do_update(
        index_elements=["notification_id", "link_index"],
        set_={"url": insert.excluded.url, "kind": insert.excluded.kind})
    session.execute(stmt, rows)


def links_of(session: Session, notification_id: int) -> list[MessageLink]:
    return list(session.exec(select(MessageLink).where(
        MessageLink.notification_id == notification_id).order_by(col(MessageLink.link_index))))


def _flag(method: str, user_agent: str, sent_at: datetime | None, now: datetime,
          rules: ScannerRules) -> str | None:
    if method.upper() == "HEAD":
        return "head"
    agent = user_agent.lower()
    if any(word in agent for word in SCANNER_AGENTS):
        return "bot-agent"
    if sent_at is not None and now - sent_at < rules.grace:
        return "too-soon"
    return None


def record_click(factory: sessionmaker[Session], *, notification_id: int, link_index: int,
                 method: str, user_agent: str, now: datetime,
                 rules: ScannerRules) -> str | None:
    """Record one request to a tracked link; the stored destination, or None."""
    with transaction(factory) as session:
        link = session.get(MessageLink, (notification_id, link_index))
        n = session.get(Notification, notification_id)
        if link is None or n is None:
            return None
        flag = _flag(method, user_agent, n.sent_at, now, rules)
        click = LinkClick(notification_id=notification_id, link_index=link_index, at=now,
                          method=method.upper()[:8], user_agent=user_agent[:512] or None,
                          counted=flag is None, flag=flag)
        session.add(click)
        session.flush()
        if flag is None:
            _uncount_burst(session, n, now, rules)
        _recount(session, n)
        return link.url


def _uncount_burst(session: Session, n: Notification, now: datetime,
                   rules: ScannerRules) -> None:
    total = session.exec(select(func.count()).select_from(MessageLink).where(
        MessageLink.notification_id == n.id)).one()
    if total < 2:
        return
    recent = list(session.exec(select(LinkClick).where(
        LinkClick.notification_id == n.id, col(LinkClick.at) >= now - rules.burst)))
    if len({c.link_index for c in recent}) < total:
        return
    for c in recent:
        if c.counted or c.flag is None:
            c.counted, c.flag = False, "every-link"
            session.add(c)
    session.flush()


def _recount(session: Session, n: Notification) -> None:
    clicks, first = session.exec(select(func.count(), func.min(LinkClick.at)).where(
        LinkClick.notification_id == n.id, col(LinkClick.counted).is_(True))).one()
    n.clicks, n.clicked_at = int(clicks), first
    session.add(n)


def record_open(factory: sessionmaker[Session], *, notification_id: int,
                now: datetime) -> None:
    with transaction(factory) as session:
        session.execute(sa.update(Notification.__table__)  # type: ignore[attr-defined]
                        .where(Notification.__table__.c.id == notification_id,  # type: ignore[attr-defined]
                               Notification.__table__.c.opened_at.is_(None))  # type: ignore[attr-defined]
                        .values(opened_at=now))


def clicks_of(session: Session, notification_id: int) -> list[LinkClick]:
    return list(session.exec(select(LinkClick).where(
        LinkClick.notification_id == notification_id).order_by(col(LinkClick.id))))
