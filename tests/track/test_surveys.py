"""The delivered follow-up asks CSAT with one-click links: an answer is recorded once per
message, a second click changes it, a comment can be added, and a low score is handed
to a person exactly once, with the comment and what the customer had been told."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.app import create_app
from notifier.clock import FrozenClock
from notifier.pipeline import Engine
from notifier.runtime import Runtime
from notifier.store.escalation_tables import EscalationRecord
from notifier.store.tables import Notification
from notifier.store.track_tables import SurveyAnswer
from tests.engine.conftest import notifications, outbox_files, put, tick
from tests.track.conftest import CUSTOMER, text_of

DELIVERED = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
ASKED = DELIVERED + timedelta(days=3, hours=1)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"


def delivered_order(runtime: Runtime) -> None:
    consent = [{"channel": "email", "purpose": "marketing", "granted": True,
                "at": "2026-01-01T00:00:00Z"}]
    put(runtime, "order", {"external_id": "2001", "number": "2001", "currency": "PLN",
                           "total": "120.00", "status": "delivered",
                           "payment_status": "paid", "placed_at": "2026-11-24T09:00:00Z",
                           "delivered_at": DELIVERED.isoformat(),
                           "customer": {**CUSTOMER, "consents": consent}}, now=DELIVERED)


async def asked(runtime: Runtime, engine: Engine, clock: FrozenClock) -> tuple[int, list[str]]:
    import email
    from email import policy

    delivered_order(runtime)
    await tick(engine, clock, ASKED)
    [n] = notifications(runtime, rule="order-delivered-followup")
    assert n.status == "sent" and n.survey == "csat", n.reason
    [path] = outbox_files(runtime, "email")
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    links = re.findall(r"https?://[^/\s]+(/s/[A-Za-z0-9._-]+)", text_of(msg))
    assert len(links) == 5  # 1..5, low to high
    assert len(re.findall(r'href="https?://[^/"]+/s/', text_of(msg, "text/html"))) == 5
    return n.id or 0, links


def answer_of(runtime: Runtime, nid: int) -> SurveyAnswer | None:
    with runtime.sessions() as session:
        return session.exec(select(SurveyAnswer).where(
            SurveyAnswer.notification_id == nid)).first()


async def test_one_answer_per_message_changeable(runtime: Runtime, engine: Engine,
                                                 clock: FrozenClock) -> None:
    nid, links = await asked(runtime, engine, clock)
    client = TestClient(create_app(runtime))
    clock.set(ASKED + timedelta(hours=2))
    page = client.get(links[4], headers={"user-agent": BROWSER})
    assert page.status_code == 200 and "Twoja ocena: 5" in page.text
    assert "<script" not in page.text
    clock.set(ASKED + timedelta(hours=3))
    page = client.get(links[3], headers={"user-agent": BROWSER})
    assert "Zmieniliśmy Twoją ocenę na 4" in page.text
    answer = answer_of(runtime, nid)
    assert answer is not None and (answer.score, answer.changes) == (4, 1)
    with runtime.sessions() as session:
        n = session.get(Notification, nid)
        assert n is not None and n.rating == 4
    assert (await engine.track(ASKED + timedelta(days=1)))["escalated"] == 0


async def test_scanner_sees_the_page_but_records_nothing(runtime: Runtime, engine: Engine,
                                                         clock: FrozenClock) -> None:
    nid, links = await asked(runtime, engine, clock)
    client = TestClient(create_app(runtime))
    clock.set(ASKED + timedelta(hours=2))
    page = client.get(links[0], headers={"user-agent": "Mozilla/5.0 (compatible; Proofpoint)"})
    assert page.status_code == 200 and "Potwierdź ocenę 1" in page.text
    assert answer_of(runtime, nid) is None
    assert client.get("/s/forged.token").status_code == 404


async def test_low_score_escalates_once_with_comment(runtime: Runtime, engine: Engine,
                                                     clock: FrozenClock) -> None:
    nid, links = await asked(runtime, engine, clock)
    client = TestClient(create_app(runtime))
    clock.set(ASKED + timedelta(hours=2))
    client.get(links[0], headers={"user-agent": BROWSER})
    assert (await engine.track(ASKED + timedelta(hours=2, minutes=1)))["escalated"] == 0
    page = client.post(links[0], data={"score": "1", "comment": "Paczka była zgnieciona."})
    assert "komentarz zapisany" in page.text
    assert (await engine.track(ASKED + timedelta(hours=2, minutes=2)))["escalated"] == 1
    client.get(links[1], headers={"user-agent": BROWSER})  # changed to 2: still low
    assert (await engine.track(ASKED + timedelta(hours=5)))["escalated"] == 0
    with runtime.sessions() as session:
        [record] = session.exec(select(EscalationRecord)).all()
        assert record.notification_id == nid and "low CSAT 1" in record.reason
        assert "Paczka była zgnieciona." in record.reason
    answer = answer_of(runtime, nid)
    assert answer is not None and answer.escalated_at is not None
    assert answer.context == {"delay_apology": False, "offer": None, "notifications": []}


async def test_low_score_without_comment_escalates_after_the_wait(
        runtime: Runtime, engine: Engine, clock: FrozenClock) -> None:
    _, links = await asked(runtime, engine, clock)
    client = TestClient(create_app(runtime))
    clock.set(ASKED + timedelta(hours=2))
    client.get(links[1], headers={"user-agent": BROWSER})
    assert (await engine.track(ASKED + timedelta(hours=2, minutes=10)))["escalated"] == 0
    assert (await engine.track(ASKED + timedelta(hours=2, minutes=16)))["escalated"] == 1
    with runtime.sessions() as session:
        [record] = session.exec(select(EscalationRecord)).all()
        assert "no comment" in record.reason
        queued = session.exec(select(Notification).where(
            Notification.kind.in_(("support", "webhook")))).all()  # type: ignore[attr-defined]
        assert queued and all(json.loads(d.payload or "") for d in queued)
