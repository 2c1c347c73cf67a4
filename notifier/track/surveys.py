"""One-click satisfaction questions: signed answer links, one changeable answer per message.

A step with ``survey = "csat"`` (1-5) or ``"nps"`` (0-10) gets one link per score in
``links.survey``; each is ``/s/{token}`` with the notification and the score signed in.
Following a link records the answer (a second click changes it: one answer per message)
and shows a page offering a comment. Scanners are not customers: a request the click
heuristics flag shows the page without recording (its button records).

A low answer (CSAT <= ``low_csat``, NPS <= ``low_nps``) is handed to a person once, by
the track job (:func:`due_escalations`): as soon as the customer left a comment, or
``ESCALATE_AFTER`` after the click when none came, so the helpdesk sees the comment.
Each answer records what the customer had been told before (a delay apology, an offer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from notifier.config import SurveySettings
from notifier.store.db import transaction
from notifier.store.offer_tables import Offer
from notifier.store.tables import Notification, Shipment
from notifier.store.track_tables import SurveyAnswer
from notifier.track.tokens import BadToken, sign, verify

SCALES = {"csat": range(1, 6), "nps": range(0, 11)}
ESCALATE_AFTER = timedelta(minutes=15)
APOLOGY_RULES = ("shipment-late", "shipment-stalled", "shipment-exception", "order-unshipped")


def survey_links(base: str, notification_id: int, kind: str,
                 secret: str) -> tuple[tuple[int, str], ...]:
    """``((score, url), ...)`` for every score of ``kind``, low to high."""
    return tuple((score, f"{base}/s/{sign({'n': notification_id, 's': score}, secret)}")
                 for score in SCALES[kind])


def parse_answer_token(token: str, secret: str) -> tuple[int, int] | None:
    try:
        payload = verify(token, secret)
        return int(payload["n"]), int(payload["s"])
    except (BadToken, KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Answer:
    """What the landing page shows after a click."""

    notification_id: int
    kind: str
    score: int
    comment: str | None
    recorded: bool
    changed: bool = False


def is_low(kind: str, score: int, settings: SurveySettings) -> bool:
    return score <= (settings.low_csat if kind == "csat" else settings.low_nps)


def _order_of(session: Session, n: Notification) -> int | None:
    if n.entity_kind == "order":
        return n.entity_id
    if n.entity_kind == "shipment":
        shipment = session.get(Shipment, n.entity_id)
        return shipment.order_id if shipment else None
    return None


def told_before(session: Session, n: Notification, order_id: int | None) -> dict[str, Any]:
    """What the customer had been told about this order before the question."""
    if order_id is None:
        return {"delay_apology": False, "offer": None, "notifications": []}
    shipments = select(Shipment.id).where(Shipment.order_id == order_id)
    rows = session.exec(select(Notification).where(
        col(Notification.id) != n.id, col(Notification.sent_at).is_not(None),
        ((col(Notification.entity_kind) == "order") & (col(Notification.entity_id) == order_id))
        | ((col(Notification.entity_kind) == "shipment")
           & col(Notification.entity_id).in_(shipments)))
        .order_by(col(Notification.sent_at))).all()
    offer = session.exec(select(Offer.code).where(
        Offer.order_id == order_id, Offer.status != "void")).first()
    return {"delay_apology": any(r.rule in APOLOGY_RULES for r in rows), "offer": offer,
            "notifications": [f"{r.rule}#{r.step}" for r in rows]}


def record_answer(factory: sessionmaker[Session], *, notification_id: int, score: int,
                  now: datetime, comment: str | None = None,
                  record: bool = True) -> Answer | None:
    """Record (or change) the answer; None when the message asked no such question."""
    with transaction(factory) as session:
        n = session.get(Notification, notification_id)
        if n is None or n.survey not in SCALES or score not in SCALES[n.survey]:
            return None
        held = session.exec(select(SurveyAnswer).where(
            SurveyAnswer.notification_id == notification_id)).first()
        if not record:
            shown = held.score if held else score
            return Answer(notification_id, n.survey, shown, held.comment if held else None,
                          recorded=False)
        changed = held is not None and held.score != score
        if held is None:
            order_id = _order_of(session, n)
            held = SurveyAnswer(notification_id=notification_id, customer_id=n.customer_id,
                                order_id=order_id, rule=n.rule, kind=n.survey, score=score,
                                answered_at=now, context=told_before(session, n, order_id))
        elif changed:
            held.score, held.changed_at, held.changes = score, now, held.changes + 1
        if comment is not None:
            held.comment = comment.strip()[:4000] or None
        session.add(held)
        n.rating = score
        session.add(n)
        return Answer(notification_id, n.survey, held.score, held.comment, recorded=True,
                      changed=changed)


def due_escalations(session: Session, *, now: datetime,
                    settings: SurveySettings) -> list[SurveyAnswer]:
    """Low answers not yet handed over whose comment came or whose wait is over."""
    rows = session.exec(select(SurveyAnswer).where(
        col(SurveyAnswer.escalated_at).is_(None))).all()
    return [a for a in rows if is_low(a.kind, a.score, settings)
            and (a.comment or now - (a.changed_at or a.answered_at) >= ESCALATE_AFTER)]


def escalation_reason(answer: SurveyAnswer) -> str:
    scale = "1-5" if answer.kind == "csat" else "0-10"
    said = f'; comment: "{answer.comment}"' if answer.comment else "; no comment"
    told = answer.context or {}
    before = []
    if told.get("delay_apology"):
        before.append("had a delay apology")
    if told.get("offer"):
        before.append(f"offer {told['offer']}")
    return (f"low {answer.kind.upper()} {answer.score} ({scale}){said}"
            + (f"; before: {', '.join(before)}" if before else ""))


