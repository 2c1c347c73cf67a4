"""Composer: locale fallback, recipients, per-channel assembly and limits."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from notifier.compose import Composer, Links, OfferKind, OfferView, RecipientError
from notifier.compose.composer import SmsTooLongError
from notifier.compose.samples import sample_context
from notifier.config import ShopSettings
from notifier.domain import (
    Channel,
    EmailMessage,
    Purpose,
    PushMessage,
    PushSubscription,
    SmsMessage,
)
from notifier.errors import TemplateError

from .conftest import WriteTemplates

LOCALE_PROBE = {
    "hello/pl/sms.txt": "pl {{ lang }} {{ shipment.eta|date }}",
    "hello/en/sms.txt": "en {{ lang }} {{ shipment.eta|date }}",
    "hello/en_GB/push.title.txt": "gb",
    "hello/en_GB/push.body.txt": "{{ shipment.eta|date }}",
    "hello/en/push.title.txt": "en",
    "hello/en/push.body.txt": "{{ shipment.eta|date }}",
}


def ctx_for(shop: ShopSettings, locale: str | None, message: str = "shipment_late"):
    ctx = sample_context(message, "pl", shop)
    return dataclasses.replace(ctx, customer=dataclasses.replace(ctx.customer, locale=locale))


@pytest.mark.parametrize(
    ("customer_locale", "default_locale", "expected"),
    [
        ("pl_PL", "pl", "pl pl środa, 3 grudnia"),
        ("pl-PL", "en", "pl pl środa, 3 grudnia"),
        ("de_DE", "pl", "pl pl środa, 3 grudnia"),  # the shop's default
        ("de_DE", "fr", "en en Wednesday, December 3"),  # then en, formatted in en, not de
        (None, "pl", "pl pl środa, 3 grudnia"),
        ("en_US", "pl", "en en Wednesday, December 3"),
        ("en_GB", "pl", "en en Wednesday 3 December"),  # en template, en_GB formats
    ],
)
def test_locale_fallback(
    write_templates: WriteTemplates,
    customer_locale: str | None,
    default_locale: str,
    expected: str,
) -> None:
    shop = ShopSettings(default_locale=default_locale)
    composer = Composer(write_templates(LOCALE_PROBE), shop, from_addr="x@example.com")
    message = composer.render("hello", Channel.SMS, ctx_for(shop, customer_locale))
    assert isinstance(message, SmsMessage)
    assert message.body == expected


def test_most_specific_locale_folder_wins(
    write_templates: WriteTemplates, shop: ShopSettings
) -> None:
    composer = Composer(write_templates(LOCALE_PROBE), shop, from_addr="x@example.com")
    assert composer.locale_for("hello", Channel.PUSH, "en_GB") == "en_GB"
    assert composer.locale_for("hello", Channel.PUSH, "en_US") == "en"
    assert composer.locale_for("hello", Channel.PUSH, "pl") == "en"
    assert composer.locale_for("hello", Channel.EMAIL, "pl") is None


def test_available(composer: Composer) -> None:
    assert composer.available("shipment_late", Channel.SMS, "pl_PL")
    assert composer.available("shipment_late", Channel.PUSH, "de")  # falls back
    assert not composer.available("no_such_message", Channel.EMAIL, "pl")


def test_missing_template_is_a_template_error(composer: Composer, shop: ShopSettings) -> None:
    with pytest.raises(TemplateError, match="no sms template in any of pl_PL, pl, en"):
        composer.render("no_such_message", Channel.SMS, sample_context("x", "pl", shop))


def test_marketing_email_has_one_click_unsubscribe_headers(
    composer: Composer, shop: ShopSettings
) -> None:
    ctx = sample_context("cart_reminder", "pl", shop)
    message = composer.render("cart_reminder", Channel.EMAIL, ctx)
    assert isinstance(message, EmailMessage)
    assert dict(message.headers) == {
        "List-Unsubscribe": (
            "<https://sklep.example.com/u/Zx81Qa>, "
            "<mailto:pomoc@sklep.example.com?subject=unsubscribe>"
        ),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert message.reply_to == "pomoc@sklep.example.com"
    assert message.from_addr == "Sklep <sklep@example.com>"
    assert message.to == "anna.kowalska@example.com"


def test_transactional_email_has_no_unsubscribe_headers(
    composer: Composer, shop: ShopSettings
) -> None:
    ctx = sample_context("shipment_late", "pl", shop)
    assert ctx.purpose is Purpose.TRANSACTIONAL
    message = composer.render("shipment_late", Channel.EMAIL, ctx)
    assert isinstance(message, EmailMessage)
    assert message.headers == ()


def test_marketing_email_without_unsubscribe_link_is_refused(
    composer: Composer, shop: ShopSettings
) -> None:
    ctx = dataclasses.replace(sample_context("cart_reminder", "pl", shop), links=Links())
    with pytest.raises(RecipientError, match="unsubscribe"):
        composer.render("cart_reminder", Channel.EMAIL, ctx)


def test_email_is_complete(composer: Composer, shop: ShopSettings) -> None:
    message = composer.render(
        "shipment_late", Channel.EMAIL, sample_context("shipment_late", "pl", shop)
    )
    assert isinstance(message, EmailMessage)
    assert message.subject == "Przepraszamy: paczka z zamówieniem 10234 dotrze 3 grudnia"
    assert (
        message.preheader
        == "Nowy termin doręczenia: środa, 3 grudnia. W ramach przeprosin: kod RABAT10."
    )
    assert message.preheader in message.html
    assert "<style" not in message.html
    assert 'style="' in message.html
    assert message.text.startswith("Dzień dobry, Pani Anno,\n\nprzepraszamy")
    assert "\n\n\n" not in message.text


def test_guest_cart_uses_the_carts_contact(composer: Composer, shop: ShopSettings) -> None:
    ctx = dataclasses.replace(sample_context("cart_reminder", "pl", shop), customer=None)
    email = composer.render("cart_reminder", Channel.EMAIL, ctx)
    sms = composer.render("cart_reminder", Channel.SMS, ctx)
    assert isinstance(email, EmailMessage) and isinstance(sms, SmsMessage)
    assert email.to == "anna.kowalska@example.com"
    assert email.text.startswith("Dzień dobry,\n")
    assert sms.to == "+48600100200"
    with pytest.raises(RecipientError):
        composer.render("cart_reminder", Channel.PUSH, ctx)


def test_push_goes_to_the_first_subscription(composer: Composer, shop: ShopSettings) -> None:
    first, second = PushSubscription(endpoint="https://a"), PushSubscription(fcm_token="t")
    ctx = sample_context("shipment_late", "pl", shop)
    ctx = dataclasses.replace(
        ctx, customer=dataclasses.replace(ctx.customer, push_subscriptions=(first, second))
    )
    message = composer.render("shipment_late", Channel.PUSH, ctx)
    assert isinstance(message, PushMessage)
    assert message.to == first
    assert message.title == "Paczka dotrze 3 grudnia — przepraszamy"
    assert message.url == "https://sklep.example.com/t/8KQ2ZX"


def test_sms_over_the_limit_raises_and_transliteration_helps(
    write_templates: WriteTemplates, shop: ShopSettings
) -> None:
    root = write_templates({"long/pl/sms.txt": "Zażółć gęślą jaźń. " * 4})  # 75 chars, UCS-2
    composer = Composer(root, shop, from_addr="x@example.com", sms_max_segments=1)
    ctx = sample_context("long", "pl", shop)
    with pytest.raises(
        SmsTooLongError, match=r"long/pl/sms\.txt:1: SMS too long: 2 UCS-2 segments"
    ):
        composer.render("long", Channel.SMS, ctx)
    message = composer.render("long", Channel.SMS, ctx, transliterate=True)
    assert isinstance(message, SmsMessage)
    assert (message.encoding, message.segments) == ("GSM-7", 1)
    assert message.body.startswith("Zazolc gesla jazn.")


def test_shipped_polish_sms_counts_ucs2_segments(composer: Composer, shop: ShopSettings) -> None:
    message = composer.render(
        "shipment_late", Channel.SMS, sample_context("shipment_late", "pl", shop)
    )
    assert isinstance(message, SmsMessage)
    assert message.encoding == "UCS-2"
    assert 2 <= message.segments <= 3
    assert "\u00a0" not in message.body


def test_offer_value_and_expiry_in_customers_words(composer: Composer, shop: ShopSettings) -> None:
    ctx = sample_context("order_unshipped", "pl", shop)
    amount = OfferView("ZWROT20", OfferKind.AMOUNT, Decimal("20.00"), "PLN", ctx.offer.expires_at)
    message = composer.render(
        "order_unshipped", Channel.EMAIL, dataclasses.replace(ctx, offer=amount)
    )
    assert isinstance(message, EmailMessage)
    assert "Kod: ZWROT20 (20,00\u00a0zł zniżki, ważny do 15 grudnia)" in message.text


def test_render_never_returns_a_half_rendered_email(
    write_templates: WriteTemplates, shop: ShopSettings
) -> None:
    root = write_templates(
        {
            "half/pl/email.subject.txt": "Temat",
            "half/pl/email.html": "<p>{{ customer|greeting }}</p>",
            "half/pl/email.txt": "{{ customer|greeting }}\n{{ offer.nope }}",
        }
    )
    composer = Composer(root, shop, from_addr="x@example.com")
    with pytest.raises(TemplateError, match=r"half/pl/email\.txt:2: undefined"):
        composer.render("half", Channel.EMAIL, sample_context("order_unshipped", "pl", shop))
