"""The console in headless Chromium against the real app under uvicorn: every role signs
in and visits every page; a viewer has no rule controls and its forged POST is refused;
a POST without the CSRF token is refused; five wrong passwords lock sign-in. The
screenshots of the README are taken here (``CONSOLE_SCREENSHOTS=docs/screenshots``)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlmodel import col, select

from notifier.app import create_app
from notifier.clock import FrozenClock
from notifier.console.auth import Role, add_user
from notifier.runtime import Runtime
from notifier.store.db import transaction
from notifier.store.tables import Customer, Notification
from tests.console.seed import ZOFIA, shop_history

PASSWORD = "correct horse battery"
PAGES = {  # nav link -> heading on the page
    "Dashboard": "Dashboard", "Rules": "Rules", "Deliveries": "Deliveries",
    "Customers": "Customers", "Offers": "Offers", "Health": "Health",
}
WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def db_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only: the pages' queries run on both backends in tests/console; here the
    browser is what is under test."""
    path = tmp_path / "notifier.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def shop(runtime: Runtime, clock: FrozenClock) -> dict[str, int]:
    with TestClient(create_app(runtime)) as client:
        shop_history(runtime, client, clock)
    with transaction(runtime.sessions) as session:
        for role in Role:
            add_user(session, email=f"{role.value}@shop.example", role=role.value,
                     password=PASSWORD, now=clock())
    with runtime.sessions() as session:
        zofia = session.exec(select(Customer).where(Customer.email == ZOFIA["email"])).one()
        sent = session.exec(select(Notification).where(Notification.status == "sent")
                            .order_by(col(Notification.id))).first()
    assert zofia.id is not None and sent is not None and sent.id is not None
    return {"customer": zofia.id, "sent": sent.id}


def shots(tmp_path: Path) -> list[Path]:
    folders = [tmp_path]
    if os.environ.get("CONSOLE_SCREENSHOTS"):
        folders.append(Path(os.environ["CONSOLE_SCREENSHOTS"]))
    return folders


def snap(page: Page, tmp_path: Path, name: str) -> None:
    for folder in shots(tmp_path):
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=folder / f"{name}.png", full_page=True)


def sign_in(browser: Browser, url: str, role: str, *, locale: str = "en-GB",
            viewport: dict[str, int] = WIDE) -> tuple[BrowserContext, Page]:
    context = browser.new_context(locale=locale, viewport=viewport)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(f"{url}/console/")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    page.get_by_label(re.compile("E-mail")).fill(f"{role}@shop.example")
    page.get_by_label(re.compile("Password|Hasło")).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign in|Zaloguj")).click()
    expect(page).to_have_url(f"{url}/console/")
    return context, page


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_each_role_visits_every_page(role: str, shop: dict[str, int], live_url: str,
                                     browser: Browser) -> None:
    context, page = sign_in(browser, live_url, role)
    try:
        for link, heading in PAGES.items():
            page.get_by_role("navigation").get_by_role("link", name=link, exact=True).click()
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        controls = page.goto(f"{live_url}/console/rules")
        assert controls is not None and controls.status == 200
        mode_controls = page.locator("select[name=mode]")
        if role in ("owner", "operator"):
            expect(mode_controls.first).to_be_visible()
        else:
            expect(mode_controls).to_have_count(0)
            expect(page.get_by_role("button", name="Save")).to_have_count(0)
        for path in (f"/deliveries/{shop['sent']}", f"/customers/{shop['customer']}",
                     "/customers?q=zofia", "/deliveries?status=sent", "/?period=30d"):
            response = page.goto(f"{live_url}/console{path}")
            assert response is not None and response.status == 200, path
        audit = page.goto(f"{live_url}/console/audit")
        assert audit is not None and audit.status == (200 if role == "owner" else 403)
        erase = page.goto(f"{live_url}/console/customers/{shop['customer']}/erase")
        assert erase is not None
        assert erase.status == (200 if role in ("owner", "operator") else 403)
    finally:
        context.close()


def test_viewer_forged_post_and_missing_csrf_are_refused(
        shop: dict[str, int], live_url: str, browser: Browser, runtime: Runtime) -> None:
    context, page = sign_in(browser, live_url, "viewer")
    try:
        page.goto(f"{live_url}/console/rules")
        token = page.locator("input[name=csrf]").first.get_attribute("value")
        assert token
        # The viewer's own session and a valid token: the role still forbids it.
        status = page.evaluate("""async ([url, token]) => {
            const body = new URLSearchParams({mode: "paused", csrf: token});
            const r = await fetch(url, {method: "POST", body});
            return r.status; }""", [f"{live_url}/console/rules/cart-abandoned", token])
        assert status == 403
    finally:
        context.close()
    context, page = sign_in(browser, live_url, "owner")
    try:
        refused = context.request.post(f"{live_url}/console/rules/cart-abandoned",
                                       form={"mode": "paused"})
        assert refused.status == 403
        page.goto(f"{live_url}/console/rules")
        expect(page.locator("#rule-cart-abandoned .mode")).to_have_text("live")
    finally:
        context.close()


def test_five_wrong_passwords_lock_sign_in(shop: dict[str, int], live_url: str,
                                           browser: Browser, tmp_path: Path) -> None:
    context = browser.new_context(locale="en-GB", viewport=WIDE)  # type: ignore[arg-type]
    page = context.new_page()
    try:
        page.goto(f"{live_url}/console/login")
        for attempt in range(5):
            page.get_by_label("E-mail").fill("owner@shop.example")
            page.get_by_label("Password").fill(f"guess number {attempt}")
            page.get_by_role("button", name="Sign in").click()
            if attempt < 4:
                expect(page.get_by_role("alert")).to_have_text("Wrong e-mail or password.")
        expect(page.get_by_role("alert")).to_contain_text("locked")
        page.get_by_label("E-mail").fill("owner@shop.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("locked")
        snap(page, tmp_path, "login-locked")
    finally:
        context.close()


def test_operator_works_the_console(shop: dict[str, int], live_url: str, browser: Browser,
                                    tmp_path: Path, runtime: Runtime) -> None:
    """Filters swap in place (htmx), a rule is paused, a customer is erased; screenshots."""
    context, page = sign_in(browser, live_url, "operator")
    try:
        snap(page, tmp_path, "dashboard")
        page.get_by_role("link", name="by channel").click()
        expect(page).to_have_url(re.compile(r"by=channel"))
        expect(page.locator(".legend")).to_contain_text("e-mail")

        page.goto(f"{live_url}/console/deliveries")
        rows = page.locator("table.deliveries tbody tr")
        expect(rows.first).to_be_visible()
        page.get_by_label("Status").select_option("sent")
        expect(page).to_have_url(re.compile(r"status=sent"))
        expect(page.locator("table.deliveries tbody .status").first).to_have_text("sent")
        snap(page, tmp_path, "deliveries")
        page.locator("table.deliveries tbody a").first.click()
        expect(page.get_by_role("heading", name="Attempts")).to_be_visible()
        expect(page.get_by_role("heading", name="The message as sent")).to_be_visible()
        # The e-mail as the customer saw it, in a sandboxed frame.
        expect(page.frame_locator("iframe.message").locator("td.header")).to_be_visible()
        snap(page, tmp_path, "delivery-trace")

        page.goto(f"{live_url}/console/rules")
        card = page.locator("#rule-cart-abandoned")
        card.get_by_label("Mode").select_option("paused")
        card.get_by_role("button", name="Save").click()
        expect(page.locator("#rule-cart-abandoned .mode").first).to_have_text("paused")
        snap(page, tmp_path, "rules")

        page.goto(f"{live_url}/console/customers")
        page.get_by_label(re.compile("Search by")).fill("przyby")
        expect(page.locator("#results")).to_contain_text(ZOFIA["email"])
        page.locator("#results a").first.click()
        expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
        snap(page, tmp_path, "customer")
        page.get_by_role("link", name="Erase personal data…").click()
        page.get_by_label(re.compile("To confirm")).fill("someone@else.example")
        page.get_by_role("button", name="Erase for good").click()
        expect(page.get_by_role("alert")).to_have_text("The confirmation does not match.")
        page.get_by_label(re.compile("To confirm")).fill(ZOFIA["email"])
        page.get_by_role("button", name="Erase for good").click()
        expect(page.get_by_role("status")).to_have_text(
            "The customer's personal data has been erased.")
        expect(page.get_by_text(ZOFIA["email"])).to_have_count(0)

        for name in ("offers", "health"):
            page.goto(f"{live_url}/console/{name}")
            snap(page, tmp_path, name)
    finally:
        context.close()


def test_polish_owner_and_a_phone(shop: dict[str, int], live_url: str, browser: Browser,
                                  tmp_path: Path) -> None:
    context, page = sign_in(browser, live_url, "owner", locale="pl-PL")
    try:
        expect(page.get_by_role("heading", level=1)).to_have_text("Pulpit")
        page.get_by_role("link", name="Dziennik zmian").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Dziennik zmian")
        snap(page, tmp_path, "audit-pl")
        page.goto(f"{live_url}/console/")
        snap(page, tmp_path, "dashboard-pl")
        page.get_by_role("button", name="English").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    finally:
        context.close()
    context, page = sign_in(browser, live_url, "viewer", viewport=PHONE)
    try:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, "the dashboard scrolls sideways on a phone"
        snap(page, tmp_path, "dashboard-phone")
    finally:
        context.close()
