"""The tracked redirect and the CSAT page as a customer meets them: headless Chromium
against the real app under uvicorn, messages sent by the real engine."""

from __future__ import annotations

import asyncio
import email
import re
import threading
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, expect
from sqlmodel import select

from notifier.clock import FrozenClock
from notifier.pipeline import Engine, build_engine
from notifier.runtime import Runtime
from notifier.store.escalation_tables import EscalationRecord
from notifier.store.tables import Notification
from notifier.store.track_tables import LinkClick, SurveyAnswer
from tests.engine.conftest import notifications, outbox_files, put
from tests.track.conftest import CUSTOMER

ACTIVE = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DELIVERED = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
T = TypeVar("T")


class EngineThread:
    """The engine on an event loop of its own thread: Playwright's sync API keeps a loop
    running in the test's thread, so the engine's steps are handed over one by one."""

    def __init__(self, runtime: Runtime) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.engine: Engine = build_engine(runtime, owner="browser-test")

    def __call__(self, step: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(step, self.loop).result(timeout=60)

    def close(self) -> None:
        self(self.engine.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def run(runtime: Runtime) -> Iterator[EngineThread]:
    engine = EngineThread(runtime)
    yield engine
    engine.close()


def last_email_text(runtime: Runtime, kind: str = "text/plain") -> str:
    [path, *_] = sorted(outbox_files(runtime, "email"), key=lambda p: p.stat().st_mtime,
                        reverse=True)
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    return str(next(p for p in msg.walk() if p.get_content_type() == kind).get_content())


def test_tracked_link_redirects_and_records_the_click(
        runtime: Runtime, live_url: str, browser: Browser, clock: FrozenClock,
        run: EngineThread) -> None:
    engine = run.engine
    destination = f"{live_url}/healthz?cart=K-1"
    consent = [{"channel": "email", "purpose": "marketing", "granted": True,
                "at": "2026-01-01T00:00:00Z"}]
    put(runtime, "cart", {"external_id": "K-1", "currency": "PLN", "value": "98.00",
                          "recovery_url": destination, "last_activity_at": ACTIVE.isoformat(),
                          "customer": {**CUSTOMER, "consents": consent}}, now=ACTIVE)
    clock.set(ACTIVE + timedelta(hours=1))
    run(engine.run_due(clock()))
    [n] = notifications(runtime)
    [path] = set(re.findall(r"https?://[^/\s]+(/r/[A-Za-z0-9._-]+)", last_email_text(runtime)))
    clock.set(ACTIVE + timedelta(hours=2))

    context = browser.new_context(locale="pl-PL")
    try:
        page = context.new_page()
        response = page.goto(f"{live_url}{path}?url=https://evil.example/")
        assert response is not None and response.ok
        assert page.url == destination  # the stored destination, not the query's
        first = response.request.redirected_from
        assert first is not None
        redirect = first.response()
        assert redirect is not None and redirect.status == 302
        assert redirect.headers["cache-control"] == "no-store"

        body, _, mac = path.removeprefix("/r/").rpartition(".")
        forged = mac[:-1] + ("A" if mac[-1] != "A" else "B")
        missing = page.goto(f"{live_url}/r/{body}.{forged}")
        assert missing is not None and missing.status == 404
        expect(page.get_by_text("This link is not valid.")).to_be_visible()
    finally:
        context.close()
    with runtime.sessions() as session:
        after = session.get(Notification, n.id)
        clicks = session.exec(select(LinkClick)).all()
    assert after is not None and after.clicks == 1
    assert after.clicked_at == ACTIVE + timedelta(hours=2)
    assert [c.counted for c in clicks] == [True]


def test_csat_page_records_once_and_a_low_rating_escalates_once(
        runtime: Runtime, live_url: str, browser: Browser, clock: FrozenClock,
        run: EngineThread) -> None:
    engine = run.engine
    consent = [{"channel": "email", "purpose": "marketing", "granted": True,
                "at": "2026-01-01T00:00:00Z"}]
    put(runtime, "order", {"external_id": "2001", "number": "2001", "currency": "PLN",
                           "total": "120.00", "status": "delivered", "payment_status": "paid",
                           "placed_at": "2026-11-24T09:00:00Z",
                           "delivered_at": DELIVERED.isoformat(),
                           "customer": {**CUSTOMER, "consents": consent}}, now=DELIVERED)
    clock.set(DELIVERED + timedelta(days=3, hours=1))
    run(engine.run_due(clock()))
    [n] = notifications(runtime, rule="order-delivered-followup")
    links = re.findall(r"https?://[^/\s]+(/s/[A-Za-z0-9._-]+)", last_email_text(runtime))
    assert len(links) == 5
    clock.set(clock() + timedelta(hours=2))

    context = browser.new_context(locale="pl-PL")
    try:
        page = context.new_page()
        page.goto(f"{live_url}{links[0]}")
        expect(page).to_have_title("Dziękujemy za ocenę")
        expect(page.get_by_role("status")).to_have_text("Dziękujemy! Twoja ocena: 1.")
        expect(page.get_by_role("link", name="Ocena 1")).to_have_attribute(
            "aria-current", "true")
        page.get_by_label("Chcesz coś dodać? (nieobowiązkowe)").fill("Paczka przyszła zgnieciona.")
        page.get_by_role("button", name="Wyślij komentarz").click()
        expect(page.get_by_text("Dziękujemy, komentarz zapisany.")).to_be_visible()
        assert run(engine.track(clock()))["escalated"] == 1

        page.goto(f"{live_url}{links[0]}")  # the same link again: still one answer
        expect(page.get_by_role("status")).to_have_text("Dziękujemy! Twoja ocena: 1.")
        page.get_by_role("link", name="Ocena 2").click()  # changed, still low
        expect(page.get_by_role("status")).to_have_text("Zmieniliśmy Twoją ocenę na 2.")
        clock.set(clock() + timedelta(hours=1))
        assert run(engine.track(clock())).get("escalated", 0) == 0
    finally:
        context.close()
    with runtime.sessions() as session:
        [answer] = session.exec(select(SurveyAnswer)).all()
        [record] = session.exec(select(EscalationRecord)).all()
        after = session.get(Notification, n.id)
    assert (answer.score, answer.changes, answer.comment) == (2, 1, "Paczka przyszła zgnieciona.")
    assert record.notification_id == n.id and "low CSAT 1" in record.reason
    assert after is not None and after.rating == 2
