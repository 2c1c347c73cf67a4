"""The one-click unsubscribe page as a customer sees it: headless Chromium against the real
app under uvicorn, on each database backend."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Browser, expect
from sqlmodel import select

from notifier.runtime import Runtime
from notifier.store.tables import Consent, Customer
from notifier.track.tokens import sign
from tests.engine.conftest import put

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CHANNELS = ("email", "sms", "push")


def _customer_with_marketing_consent(runtime: Runtime) -> int:
    consents = [{"channel": channel, "purpose": "marketing", "granted": True,
                 "at": "2026-01-01T00:00:00Z"} for channel in CHANNELS]
    put(runtime, "customer", {"external_id": "c-anna", "email": "anna@example.pl",
                              "phone": "+48600100200", "first_name": "Anna",
                              "consents": consents}, now=NOW)
    with runtime.sessions() as session:
        customer = session.exec(select(Customer).where(Customer.external_id == "c-anna")).one()
        assert customer.id is not None
        return customer.id


def _marketing_consent(runtime: Runtime, customer_id: int) -> dict[str, bool]:
    with runtime.sessions() as session:
        rows = session.exec(select(Consent).where(Consent.customer_id == customer_id,
                                                  Consent.purpose == "marketing")).all()
        return {row.channel: row.granted for row in rows}


def test_customer_unsubscribes_in_the_browser(runtime: Runtime, live_url: str,
                                              browser: Browser, tmp_path: Path) -> None:
    customer_id = _customer_with_marketing_consent(runtime)
    assert _marketing_consent(runtime, customer_id) == dict.fromkeys(CHANNELS, True)
    secret = runtime.settings.server.secret_key.get_secret_value()
    token = sign({"c": customer_id, "p": "marketing"}, secret)

    context = browser.new_context(locale="pl-PL")
    try:
        page = context.new_page()
        response = page.goto(f"{live_url}/u/{token}")
        assert response is not None and response.status == 200
        expect(page).to_have_title("Wypisz się / Unsubscribe")
        expect(page.get_by_text("Nie chcesz otrzymywać wiadomości marketingowych")).to_be_visible()
        expect(page.get_by_text("Don't want marketing messages from us?")).to_be_visible()
        button = page.get_by_role("button", name="Wypisz mnie / Unsubscribe me")
        expect(button).to_be_visible()
        page.screenshot(path=tmp_path / "unsubscribe.png", full_page=True)
        assert _marketing_consent(runtime, customer_id) == dict.fromkeys(CHANNELS, True)

        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            button.click()
        assert posted.value.status == 200
        # RFC 8058: the form posts what a mail client's one-click POST carries.
        assert posted.value.request.post_data == "List-Unsubscribe=One-Click"
        expect(page).to_have_title("Wypisano / Unsubscribed")
        expect(page.get_by_text("Gotowe: nie będziemy już wysyłać wiadomości "
                                "marketingowych.")).to_be_visible()
        expect(page.get_by_text("Done: you will get no more marketing messages.")).to_be_visible()
        page.screenshot(path=tmp_path / "unsubscribed.png", full_page=True)
        assert _marketing_consent(runtime, customer_id) == dict.fromkeys(CHANNELS, False)

        tampered = page.goto(f"{live_url}/u/{token}x")
        assert tampered is not None and tampered.status == 404
        expect(page).to_have_title("Nieprawidłowy link / Invalid link")
        expect(page.get_by_text("Ten link jest nieprawidłowy.")).to_be_visible()
        expect(page.get_by_text("This link is not valid.")).to_be_visible()
        support = runtime.settings.shop.support_email
        expect(page.get_by_role("link", name=support)).to_have_attribute(
            "href", f"mailto:{support}")
        expect(page.get_by_role("button")).to_have_count(0)
        page.screenshot(path=tmp_path / "tampered.png", full_page=True)
    finally:
        context.close()
