"""What customers actually read: apology, facts, remedy and a person, in pl and en."""

from __future__ import annotations

import dataclasses
import re

import pytest

from notifier.compose import Composer
from notifier.compose.samples import sample_context, sample_shipment, scenarios
from notifier.compose.sms import measure
from notifier.config import ShopSettings
from notifier.domain import Channel, EmailMessage, Message, PushMessage, SmsMessage

from .test_tooling import SHIPPED_MESSAGES

APOLOGETIC = ("order_unshipped", "shipment_late", "shipment_stalled", "shipment_exception")


def text_of(message: Message) -> str:
    if isinstance(message, EmailMessage):
        return f"{message.subject}\n{message.text}"
    if isinstance(message, SmsMessage):
        return message.body
    assert isinstance(message, PushMessage)
    return f"{message.title}\n{message.body}"


@pytest.mark.parametrize("message_name", SHIPPED_MESSAGES)
@pytest.mark.parametrize("locale", ["pl", "en"])
def test_every_message_offers_a_person_to_talk_to(
    composer: Composer, shop: ShopSettings, message_name: str, locale: str
) -> None:
    for label, ctx in scenarios(message_name, locale, shop):
        for channel in Channel:
            if channel is Channel.PUSH and ctx.customer is None:
                continue
            text = text_of(composer.render(message_name, channel, ctx))
            assert shop.support_phone in text, (label, channel)
            if channel is Channel.EMAIL:
                assert shop.support_email in text and shop.contact_url in text


@pytest.mark.parametrize("message_name", SHIPPED_MESSAGES)
def test_polish_sms_fits_three_ucs2_segments_with_room_for_a_longer_shop_name(
    composer: Composer, message_name: str
) -> None:
    shop = ShopSettings(name="Księgarnia Pod Globusem")  # 23 characters
    for _label, ctx in scenarios(message_name, "pl", shop):
        message = composer.render(message_name, Channel.SMS, ctx)
        assert isinstance(message, SmsMessage)
        assert message.encoding == "UCS-2"
        assert measure(message.body).segments <= 3, message.body


@pytest.mark.parametrize("message_name", APOLOGETIC)
@pytest.mark.parametrize(("locale", "sorry"), [("pl", "przepraszamy"), ("en", "sorry")])
def test_bad_news_opens_with_an_apology(
    composer: Composer, shop: ShopSettings, message_name: str, locale: str, sorry: str
) -> None:
    ctx = sample_context(message_name, locale, shop)
    for channel in (Channel.EMAIL, Channel.SMS):
        text = text_of(composer.render(message_name, channel, ctx)).lower()
        first_sentence = re.split(r"[.!?]\s", text.split(",\n\n", 1)[-1])[0]
        assert sorry in first_sentence, (channel, first_sentence)


def test_polish_email_is_formal_and_says_the_new_date(
    composer: Composer, shop: ShopSettings
) -> None:
    message = composer.render(
        "shipment_late", Channel.EMAIL, sample_context("shipment_late", "pl", shop)
    )
    assert isinstance(message, EmailMessage)
    assert message.text.startswith("Dzień dobry, Pani Anno,")
    assert "nowy termin doręczenia to środa, 3 grudnia, czyli 5 dni później" in message.text
    assert "Kod: RABAT10 (10% zniżki, ważny do 15 grudnia)" in message.text
    assert " Ty " not in message.text and "Twoj" not in message.text  # no informal address


def test_english_email_says_the_new_date(composer: Composer, shop: ShopSettings) -> None:
    message = composer.render(
        "shipment_late", Channel.EMAIL, sample_context("shipment_late", "en", shop)
    )
    assert isinstance(message, EmailMessage)
    assert message.text.startswith("Dear Ms Clarke,")
    assert (
        "the new delivery date is Wednesday 3 December — 5 days later than promised" in message.text
    )
    assert "Code: RABAT10 (10% off, valid until 15 December)" in message.text


@pytest.mark.parametrize(
    ("status", "event", "subject"),
    [
        (
            "exception",
            "failed_attempt",
            "Przepraszamy: nie udało się doręczyć paczki z zamówieniem 10234",
        ),
        (
            "exception",
            "DELIVERY_ATTEMPT_FAILED",
            "Przepraszamy: nie udało się doręczyć paczki z zamówieniem 10234",
        ),
        ("returned", "return_to_sender", "Przepraszamy: paczka z zamówieniem 10234 wraca do nas"),
        ("exception", "damaged", "Przepraszamy: paczka z zamówieniem 10234 została uszkodzona"),
        ("exception", "lost", "Przepraszamy: paczka z zamówieniem 10234 zaginęła"),
        ("exception", "customs_hold", "Przepraszamy: problem z doręczeniem zamówienia 10234"),
    ],
)
def test_exception_is_phrased_by_the_last_tracking_event(
    composer: Composer, shop: ShopSettings, status: str, event: str, subject: str
) -> None:
    ctx = sample_context("shipment_exception", "pl", shop)
    ctx = dataclasses.replace(ctx, shipment=sample_shipment(status, event, eta=None))
    message = composer.render("shipment_exception", Channel.EMAIL, ctx)
    assert isinstance(message, EmailMessage)
    assert message.subject == subject


def test_carrier_text_is_escaped_in_html(composer: Composer, shop: ShopSettings) -> None:
    ctx = sample_context("shipment_exception", "pl", shop)
    shipment = sample_shipment("exception", "customs_hold", eta=None)
    event = dataclasses.replace(shipment.events[-1], message="<b>Cło</b> & opłata")
    ctx = dataclasses.replace(
        ctx, shipment=dataclasses.replace(shipment, events=(shipment.events[0], event))
    )
    message = composer.render("shipment_exception", Channel.EMAIL, ctx)
    assert isinstance(message, EmailMessage)
    assert "„&lt;b&gt;Cło&lt;/b&gt; &amp; opłata”" in message.html
    assert "„<b>Cło</b> & opłata”" in message.text


def test_cart_reminder_counts_products_in_polish(composer: Composer, shop: ShopSettings) -> None:
    message = composer.render(
        "cart_reminder", Channel.EMAIL, sample_context("cart_reminder", "pl", shop)
    )
    assert isinstance(message, EmailMessage)
    assert message.preheader.startswith("W koszyku: 3 produkty o wartości 328,80\u00a0zł.")
