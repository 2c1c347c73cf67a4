"""The editors in headless Chromium against the real app under uvicorn, with a local SMTP
sink as the shop's mail relay and a worker (the real engine) ticking when told to.

Template editor: a marketer opens the Polish ``order_unshipped`` email, picks a stored
customer and sees the preview greet her in the vocative, and follow her typing; an
undefined variable shows at its line in the gutter and publishing is refused; fixed, a
test send arrives once, marked, and reports never count it; published, the next real
notification has the new text; restoring the previous version brings the old text back.

Rule editor: an operator changes the cart-abandoned first delay in the form; the TOML
follows; the simulation shown is what ``notifier rules simulate`` prints for the same
draft; published, a worker that was already running applies it at its next tick.

Screenshots of both editors go to ``CONSOLE_SCREENSHOTS`` (docs/screenshots) when set.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select
from typer.testing import CliRunner

from notifier import authoring
from notifier.app import create_app
from notifier.cli import app as cli
from notifier.clock import FrozenClock
from notifier.config import Settings
from notifier.console.auth import Role, add_user
from notifier.pipeline import Engine, build_engine
from notifier.reports import daily_counts
from notifier.runtime import Runtime
from notifier.store.db import transaction
from notifier.store.tables import Notification
from tests.conftest import make_settings
from tests.console.seed import API, shop_history
from tests.fakes.smtp import SmtpSink
from tests.web.test_console_browser import PASSWORD, PHONE, WIDE, shots
from tests.web.test_console_browser import db_url as db_url  # the SQLite-only database
from tests.web.test_console_browser import sign_in as browser_sign_in

NAME = "order_unshipped"
EMAIL_HTML = f"{NAME}/pl/email.html"
DAY = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)  # after the seeded history, office hours
NEW_TEXT = "Paczka wyjedzie jeszcze dziś."
UNDEFINED = " {{ nieznana_zmienna }}"
# How long a preview may take to come back on a loaded machine (each wait ends as soon as
# the element is there; nothing asserts a duration).
PREVIEW = {"timeout": 30_000}
CONSENT = [{"channel": "email", "purpose": "marketing", "granted": True,
            "at": "2026-01-01T00:00:00Z"}]


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp: SmtpSink) -> Settings:
    return make_settings(
        tmp_path, database={"url": db_url},
        email={"transport": "smtp", "from": "Sklep <sklep@example.pl>",
               "smtp": {"host": smtp.host, "port": smtp.port, "starttls": False,
                        "timeout_s": 5}},
        server={"public_url": "https://notify.example.pl"})


class Worker:
    """The real engine in a thread with its own event loop (Playwright holds this one),
    built once, so a change published meanwhile must reach it at its next tick."""

    def __init__(self, runtime: Runtime) -> None:
        self.pool = ThreadPoolExecutor(1)
        self.loop = self.pool.submit(asyncio.new_event_loop).result()
        self.engine: Engine = self.pool.submit(build_engine, runtime, owner="worker-1").result()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.pool.submit(self.loop.run_until_complete, coro).result()

    def tick(self, clock: FrozenClock, at: datetime) -> None:
        clock.set(at)
        self.run(self.engine.run_due(at))

    def close(self) -> None:
        self.run(self.engine.aclose())
        self.pool.submit(self.loop.close).result()
        self.pool.shutdown()


@pytest.fixture
def shop(runtime: Runtime, clock: FrozenClock) -> Iterator[TestClient]:
    client = TestClient(create_app(runtime))
    with client:
        shop_history(runtime, client, clock)
        with transaction(runtime.sessions) as session:
            for role in Role:
                add_user(session, email=f"{role.value}@shop.example", role=role.value,
                         password=PASSWORD, now=clock())
        clock.set(DAY)
        yield client


@pytest.fixture
def worker(shop: TestClient, runtime: Runtime) -> Iterator[Worker]:
    started = Worker(runtime)
    yield started
    started.close()


def snap(page: Page, tmp_path: Path, name: str, *, full: bool = False) -> None:
    for folder in shots(tmp_path):
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=folder / f"{name}.png", full_page=full)


def editor(page: Page, name: str) -> Any:
    """The CodeMirror editor of the file ``name``."""
    return page.locator(f'.cm-editor[data-name="{name}"]')


def cursor_after(page: Page, name: str, text: str) -> None:
    """Focus the editor of ``name`` with the cursor at the end of the line holding ``text``
    (the End key would stop at a wrapped line's visual end)."""
    page.evaluate("""([name, text]) => {
        const view = window.NotifierEditor.views.get(name);
        const doc = view.state.doc;
        for (let n = 1; n <= doc.lines; n++) {
            const line = doc.line(n);
            if (line.text.includes(text)) {
                view.focus();
                view.dispatch({ selection: { anchor: line.to } });
                return;
            }
        }
        throw new Error("no line with " + text);
    }""", [name, text])


def late_order(client: TestClient, n: int, at: datetime) -> str:
    """A paid order whose ship-by passed five hours ago: order-unshipped is due at once."""
    email = f"klientka{n}@example.pl"
    response = client.post("/v1/orders", headers=API, json={
        "external_id": f"L-{n}", "number": f"L-{n}", "currency": "PLN", "total": "99.00",
        "payment_status": "paid", "placed_at": (at - timedelta(days=1)).isoformat(),
        "ship_by": (at - timedelta(hours=5)).isoformat(),
        "customer": {"external_id": f"c-late-{n}", "email": email, "first_name": "Zofia",
                     "salutation": "ms", "locale": "pl"}})
    assert response.status_code in (200, 201, 202), response.text
    return email


def html_of(sink: SmtpSink, to: str) -> str:
    [received] = [m for m in sink.messages if to in m.rcpt_tos]
    part = received.message.get_body(("html",))
    assert part is not None
    return part.get_content()


def test_marketer_edits_checks_tests_publishes_and_restores_an_email(
        shop: TestClient, worker: Worker, live_url: str, browser: Browser, runtime: Runtime,
        clock: FrozenClock, smtp: SmtpSink, tmp_path: Path) -> None:
    with runtime.sessions() as session:
        original = authoring.live(session, "template", NAME)
    assert original is not None
    context, page = browser_sign_in(browser, live_url, "marketer")
    try:
        page.get_by_role("navigation").get_by_role("link", name="Templates").click()
        page.get_by_role("link", name=NAME).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(NAME)
        expect(page.locator("input[name=locale][value=pl]")).to_be_checked()
        desktop = page.frame_locator("iframe.message.desktop")
        # The shipped sample first.
        expect(desktop.locator("body")).to_contain_text("Pani Anno", **PREVIEW)

        page.get_by_placeholder(re.compile("e-mail, name")).fill("zofia")
        page.get_by_role("button", name=re.compile("Zofia Przybyszewska")).click()
        expect(desktop.locator("body")).to_contain_text("Pani Zofio", **PREVIEW)  # vocative
        expect(page.locator("details.variables")).to_contain_text("Zofia", **PREVIEW)

        html = editor(page, EMAIL_HTML)
        html.locator(".cm-line", has_text="customer|greeting").click()
        cursor_after(page, EMAIL_HTML, "customer|greeting")
        page.keyboard.insert_text(f" {NEW_TEXT}")
        expect(desktop.locator("body")).to_contain_text(NEW_TEXT, **PREVIEW)
        snap(page, tmp_path, "template-editor")

        page.keyboard.insert_text(UNDEFINED)
        line = original.files[EMAIL_HTML].splitlines().index(
            next(s for s in original.files[EMAIL_HTML].splitlines() if "greeting" in s)) + 1
        problem = page.locator(f'.problems li[data-file="{EMAIL_HTML}"][data-line="{line}"]')
        expect(problem).to_contain_text("nieznana_zmienna", **PREVIEW)
        expect(html.locator(".cm-lint-marker-error")).to_have_count(1, **PREVIEW)
        snap(page, tmp_path, "template-editor-problem")

        page.get_by_role("button", name="Publish", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text("Publishing refused")
        expect(page.get_by_role("alert")).to_contain_text("nieznana_zmienna")
        with runtime.sessions() as session:
            assert authoring.live(session, "template", NAME).id == original.id

        html = editor(page, EMAIL_HTML)  # the page came back with the draft as typed
        html.locator(".cm-line", has_text="nieznana_zmienna").click()
        cursor_after(page, EMAIL_HTML, "nieznana_zmienna")
        for _ in UNDEFINED:
            page.keyboard.press("Backspace")
        expect(page.locator(".problems-card.clean")).to_be_visible(**PREVIEW)
        expect(html.locator(".cm-lint-marker-error")).to_have_count(0, **PREVIEW)
        expect(desktop.locator("body")).to_contain_text(NEW_TEXT, **PREVIEW)

        page.get_by_label(re.compile("To \\(e-mail")).fill("tester@example.pl")
        page.get_by_role("button", name="Send test").click()
        expect(page.locator("#test-result")).to_contain_text("tester@example.pl", **PREVIEW)
        worker.tick(clock, DAY + timedelta(minutes=1))
        worker.tick(clock, DAY + timedelta(minutes=2))  # once: a second pass sends nothing
        tests = [m for m in smtp.messages if "tester@example.pl" in m.rcpt_tos]
        assert len(tests) == 1
        assert tests[0].message["Subject"].startswith("[TEST] ")
        assert tests[0].message["X-Notifier-Test"] == "editor"
        assert NEW_TEXT in html_of(smtp, "tester@example.pl")
        expect(page.locator("#test-result")).to_contain_text("sent", timeout=15_000)
        with runtime.sessions() as session:
            [row] = session.exec(select(Notification).where(Notification.kind == "test")).all()
            counted = daily_counts(session, start=DAY - timedelta(days=30),
                                   end=DAY + timedelta(days=1), timezone="Europe/Warsaw")
        assert row.status == "sent" and row.recipient == "tester@example.pl"
        assert counted and not [c for c in counted if c.rule == row.rule]

        page.get_by_label(re.compile("Note")).fill("dziś wysyłamy")
        page.get_by_role("button", name="Compare with live").click()
        expect(page.locator("#review .dadd")).to_contain_text(NEW_TEXT, **PREVIEW)
        page.get_by_role("button", name="Publish", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text("is published")

        first = late_order(shop, 1, DAY + timedelta(minutes=3))
        worker.tick(clock, DAY + timedelta(minutes=3))
        assert NEW_TEXT in html_of(smtp, first)

        page.locator("tr", has_text=f"v{original.number}").get_by_role(
            "button", name="Restore").click()
        expect(page.get_by_role("status")).to_contain_text("restored")
        expect(editor(page, EMAIL_HTML)).not_to_contain_text(NEW_TEXT)
        with runtime.sessions() as session:
            assert authoring.live(session, "template", NAME).files == original.files
        second = late_order(shop, 2, DAY + timedelta(minutes=4))
        worker.tick(clock, DAY + timedelta(minutes=4))
        assert NEW_TEXT not in html_of(smtp, second)
        assert "Pani Zofio" in html_of(smtp, second)

        page.set_viewport_size(PHONE)
        page.goto(f"{live_url}/console/editor/templates/{NAME}")
        expect(editor(page, EMAIL_HTML)).to_be_visible()
        snap(page, tmp_path, "template-editor-phone")
        page.set_viewport_size(WIDE)
    finally:
        context.close()


def abandoned_cart(client: TestClient, at: datetime) -> None:
    response = client.post("/v1/carts", headers=API, json={
        "external_id": "K-new", "currency": "PLN", "value": "120.00",
        "items": [{"name": "Czajnik", "quantity": 1, "price": "120.00"}],
        "recovery_url": "https://sklep.example.pl/cart/K-new",
        "last_activity_at": at.isoformat(),
        "customer": {"external_id": "c-new", "email": "nowa@example.pl", "locale": "pl",
                     "consents": CONSENT}})
    assert response.status_code in (200, 201, 202), response.text


def cart_reminders(runtime: Runtime) -> list[Notification]:
    with runtime.sessions() as session:
        return list(session.exec(select(Notification).where(
            Notification.rule == "cart-abandoned", Notification.step == 0,
            Notification.recipient == "nowa@example.pl")).all())


def test_operator_changes_a_delay_simulates_as_the_cli_and_a_worker_applies_it(
        shop: TestClient, worker: Worker, live_url: str, browser: Browser, runtime: Runtime,
        clock: FrozenClock, tmp_path: Path) -> None:
    context, page = browser_sign_in(browser, live_url, "operator")
    try:
        page.get_by_role("navigation").get_by_role("link", name="Rules").click()
        page.locator("#rule-cart-abandoned").get_by_role("link", name="Edit rule").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("cart-abandoned")
        delay = page.locator('input[name="steps[0].delay"]')
        expect(delay).to_have_value("0h")
        # The scripts are deferred: an edit typed before htmx and the editors are bound
        # would raise no request (the heading shows earlier than that).
        page.wait_for_function("() => window.NotifierEditor && window.htmx"
                               " && window.NotifierEditor.views.has('toml')", **PREVIEW)
        delay.fill("2h")
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # CodeMirror draws only the lines in view: the document is read from the editor.
        page.wait_for_function("""() => window.NotifierEditor.views.get("toml").state.doc
            .toString().includes('delay = "2h"                     # 1 h po ostatniej')""",
                               **PREVIEW)
        expect(editor(page, "toml")).to_contain_text('delay = "2h"', **PREVIEW)  # scrolled to
        kept = page.locator("#rule-sync .kept-comments")  # the comment may describe "0h"
        expect(kept).to_contain_text("steps[0].delay", **PREVIEW)
        expect(kept).to_contain_text("# 1 h po ostatniej aktywności", **PREVIEW)
        expect(page.locator("#rule-problems")).to_contain_text("No problems", **PREVIEW)

        page.locator("input[name=sim_from]").fill("2026-11-30")
        page.locator("input[name=sim_to]").fill("2026-12-03")
        page.get_by_role("button", name="Simulate", exact=True).click()
        printed = page.locator("pre.sim-printed")
        expect(printed).to_contain_text("cart-abandoned step 1 [cart_reminder]", **PREVIEW)
        shown = printed.inner_text()
        first_step = page.locator('#simulation tr[data-step="1"] .sim-messages')
        assert int(first_step.inner_text()) > 0
        page.set_viewport_size({"width": 1280, "height": 1500})
        page.evaluate("window.scrollTo(0, 0)")
        page.locator("#simulation").scroll_into_view_if_needed()
        expect(kept).to_contain_text("steps[0].delay")  # still named after the field's blur
        snap(page, tmp_path, "rule-editor")
        page.set_viewport_size(WIDE)
        assert errors == []

        page.get_by_label(re.compile("Note")).fill("first reminder three hours after")
        page.get_by_role("button", name="Save draft").click()
        expect(page.get_by_role("status")).to_contain_text("saved")
        config = tmp_path / "config.toml"
        paths = runtime.settings.paths
        config.write_text(f'[database]\nurl = "{runtime.settings.database_url}"\n'
                          f'[paths]\nrules_dir = "{paths.rules_dir}"\n'
                          f'templates_dir = "{paths.templates_dir}"\n'
                          f'data_dir = "{paths.data_dir}"\n', encoding="utf-8")
        result = CliRunner().invoke(cli, [
            "--config", str(config), "rules", "simulate", "--from", "2026-11-30",
            "--to", "2026-12-03", "--rule", "cart-abandoned", "--draft", "cart-abandoned"])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == shown.strip()

        # A worker already running (built before the publish) applies it at its next tick.
        page.get_by_role("button", name="Publish", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text("is published")
        abandoned_cart(shop, DAY + timedelta(minutes=5))
        worker.tick(clock, DAY + timedelta(hours=1, minutes=35))  # the old first step was due
        assert [n for n in cart_reminders(runtime) if n.status == "sent"] == []
        worker.tick(clock, DAY + timedelta(hours=3, minutes=10))
        [sent] = cart_reminders(runtime)
        assert sent.status == "sent"
        assert sent.sent_at == DAY + timedelta(hours=3, minutes=10)

        page.set_viewport_size(PHONE)
        page.goto(f"{live_url}/console/editor/rules/cart-abandoned")
        expect(page.locator('input[name="steps[0].delay"]')).to_have_value("2h")
        snap(page, tmp_path, "rule-editor-phone")
    finally:
        context.close()
