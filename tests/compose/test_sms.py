"""SMS encoding and segment counting as operators bill them (3GPP TS 23.040)."""

from __future__ import annotations

import pytest

from notifier.compose.sms import GSM7, UCS2, SmsSize, measure, normalise, transliterate


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SmsSize(GSM7, 0, 0)),
        ("Paczka dotrze jutro.", SmsSize(GSM7, 20, 1)),
        ("a" * 160, SmsSize(GSM7, 160, 1)),
        ("a" * 161, SmsSize(GSM7, 161, 2)),
        ("a" * 306, SmsSize(GSM7, 306, 2)),
        ("a" * 307, SmsSize(GSM7, 307, 3)),
        ("a" * 459, SmsSize(GSM7, 459, 3)),
        ("a" * 460, SmsSize(GSM7, 460, 4)),
        ("line\nbreak", SmsSize(GSM7, 10, 1)),
        # Extension characters cost two septets.
        ("€" * 80, SmsSize(GSM7, 160, 1)),
        ("€" * 81, SmsSize(GSM7, 162, 2)),
        ("{[~]}^|\\", SmsSize(GSM7, 16, 1)),
        ("Cena: 12,00 €", SmsSize(GSM7, 14, 1)),
        # An escape pair never straddles two segments: 306 septets but three parts.
        ("a" * 152 + "€" + "a" * 152, SmsSize(GSM7, 306, 3)),
        # Letters GSM-7 has keep it GSM-7; its lowercase ç does not exist.
        ("Café, Müller, Straße, Niño", SmsSize(GSM7, 26, 1)),
        ("façade", SmsSize(UCS2, 6, 1)),
        # One Polish letter switches the whole message to UCS-2.
        ("Paczka dotrze w środę.", SmsSize(UCS2, 22, 1)),
        ("ą" * 70, SmsSize(UCS2, 70, 1)),
        ("ą" * 71, SmsSize(UCS2, 71, 2)),
        ("ą" * 134, SmsSize(UCS2, 134, 2)),
        ("ą" * 135, SmsSize(UCS2, 135, 3)),
        ("ą" * 201, SmsSize(UCS2, 201, 3)),
        ("ą" * 202, SmsSize(UCS2, 202, 4)),
        # Astral characters take two UTF-16 units and are never split.
        ("😀" * 35, SmsSize(UCS2, 70, 1)),
        ("😀" * 36, SmsSize(UCS2, 72, 2)),
        ("a" * 66 + "😀" + "a" * 66, SmsSize(UCS2, 134, 3)),
    ],
    ids=lambda value: value if isinstance(value, SmsSize) else None,
)
def test_measure(text: str, expected: SmsSize) -> None:
    assert measure(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Zażółć gęślą jaźń", "Zazolc gesla jazn"),
        ("ŁÓDŹ, Świętokrzyskie", "LODZ, Swietokrzyskie"),
        ("Café Müller", "Café Müller"),  # already GSM-7: kept
        ("façade", "facade"),
        ("Paczka 😀", "Paczka 😀"),  # no GSM-7 base: kept, message stays UCS-2
    ],
)
def test_transliterate(text: str, expected: str) -> None:
    assert transliterate(text) == expected


def test_transliterated_polish_fits_gsm7() -> None:
    text = "Sklep: przepraszamy, zamówienie 10234 się spóźni. Nowy termin: środa, 3 grudnia."
    assert measure(text).encoding == UCS2
    assert measure(transliterate(text)) == SmsSize(GSM7, len(text), 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1\u00a0234,50\u00a0zł", "1 234,50 zł"),
        ("1:00\u202fPM", "1:00 PM"),
        ("„cytat” i ‘quote’", "\"cytat\" i 'quote'"),
        ("a – b — c…", "a - b - c..."),
        ("  line  \r\n\n\n\nnext  ", "line\n\nnext"),
    ],
)
def test_normalise_makes_typography_plain(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_babel_money_in_english_sms_stays_gsm7() -> None:
    assert measure(normalise("Total: PLN\u00a01,234.50 – thanks")).encoding == GSM7
