"""Plurals, money and dates exactly as Babel (CLDR) formats them, in pl and en."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from babel import Locale

from notifier.compose.context import OfferKind, OfferView
from notifier.compose.filters import FilterError, Formatter

NBSP = "\u00a0"


def formatter(locale: str = "pl_PL", tz: str = "Europe/Warsaw", currency: str = "PLN") -> Formatter:
    return Formatter(locale.split("_")[0], Locale.parse(locale), ZoneInfo(tz), currency)


@pytest.mark.parametrize(
    ("count", "days", "products"),
    [
        (1, "1 dzień", "1 produkt"),
        (2, "2 dni", "2 produkty"),
        (4, "4 dni", "4 produkty"),
        (5, "5 dni", "5 produktów"),
        (12, "12 dni", "12 produktów"),
        (14, "14 dni", "14 produktów"),
        (22, "22 dni", "22 produkty"),
        (25, "25 dni", "25 produktów"),
        (0, "0 dni", "0 produktów"),
        (101, "101 dni", "101 produktów"),
    ],
)
def test_polish_plurals(count: int, days: str, products: str) -> None:
    pl = formatter()
    assert pl.plural(count, "dzień", "dni", "dni") == days
    assert pl.plural(count, "produkt", "produkty", "produktów") == products


@pytest.mark.parametrize(
    ("count", "expected"),
    [(1, "1 day"), (2, "2 days"), (5, "5 days"), (12, "12 days"), (22, "22 days"), (25, "25 days")],
)
def test_english_plurals(count: int, expected: str) -> None:
    assert formatter("en_GB").plural(count, "day", "days") == expected


def test_plural_by_cldr_category_names_and_without_the_number() -> None:
    pl = formatter()
    assert pl.plural(22, one="produkt", few="produkty", many="produktów") == "22 produkty"
    assert pl.plural(5, "dnia", "dni", "dni", number=False) == "dni"


def test_plural_with_too_few_forms_names_the_missing_category() -> None:
    with pytest.raises(FilterError, match="missing many"):
        formatter().plural(5, "dzień", "dni")
    with pytest.raises(FilterError, match="missing other"):
        formatter("en").plural(5, "day")


@pytest.mark.parametrize(
    ("locale", "amount", "currency", "expected"),
    [
        ("pl_PL", "1234.50", "PLN", f"1{NBSP}234,50{NBSP}zł"),
        ("pl_PL", "20", "PLN", f"20,00{NBSP}zł"),
        ("pl_PL", "12", "EUR", f"12,00{NBSP}€"),
        ("pl_PL", "1234.5", "EUR", f"1{NBSP}234,50{NBSP}€"),
        ("en_GB", "12", "EUR", "€12.00"),
        ("en", "1234.5", "EUR", "€1,234.50"),
        # Babel gives "PLN1,234.50"; CLDR's currency spacing wants a space after letters.
        ("en_GB", "1234.50", "PLN", f"PLN{NBSP}1,234.50"),
        ("en", "20", "PLN", f"PLN{NBSP}20.00"),
    ],
)
def test_money(locale: str, amount: str, currency: str, expected: str) -> None:
    assert formatter(locale).money(Decimal(amount), currency) == expected


def test_money_defaults_to_the_shop_currency_and_rejects_none() -> None:
    assert formatter(currency="PLN").money(Decimal("9.99")) == f"9,99{NBSP}zł"
    with pytest.raises(FilterError):
        formatter().money(None)


@pytest.mark.parametrize(
    ("offer", "pl", "en"),
    [
        (OfferView("A", OfferKind.PERCENT, Decimal(10), "PLN"), "10%", "10%"),
        (
            OfferView("B", OfferKind.AMOUNT, Decimal("20.00"), "PLN"),
            f"20,00{NBSP}zł",
            f"PLN{NBSP}20.00",
        ),
        (OfferView("C", OfferKind.AMOUNT, Decimal(5), "EUR"), f"5,00{NBSP}€", "€5.00"),
    ],
)
def test_discount(offer: OfferView, pl: str, en: str) -> None:
    assert formatter().discount(offer) == pl
    assert formatter("en_GB").discount(offer) == en


def test_free_shipping_has_no_discount_value() -> None:
    with pytest.raises(FilterError, match="free_shipping"):
        formatter().discount(OfferView("D", OfferKind.FREE_SHIPPING))


NOON_UTC = datetime(2025, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("locale", "fmt", "expected"),
    [
        ("pl_PL", "day", "środa, 3 grudnia"),
        ("pl_PL", "day_month", "3 grudnia"),
        ("pl_PL", "day_year", "środa, 3 grudnia 2025"),
        ("pl_PL", "short", "3.12.2025"),
        ("pl_PL", "d.MM", "3.12"),
        ("en_GB", "day", "Wednesday 3 December"),
        ("en_GB", "day_month", "3 December"),
        ("en", "day", "Wednesday, December 3"),
        ("de", "day", "Mittwoch, 3. Dezember"),
    ],
)
def test_dates(locale: str, fmt: str, expected: str) -> None:
    assert formatter(locale).date(NOON_UTC, fmt) == expected


def test_dates_are_shown_in_the_customers_timezone() -> None:
    late_evening_utc = datetime(2025, 12, 3, 23, 30, tzinfo=UTC)
    assert formatter(tz="Europe/Warsaw").date(late_evening_utc) == "czwartek, 4 grudnia"
    assert formatter(tz="America/New_York").date(late_evening_utc) == "środa, 3 grudnia"
    assert formatter().date(date(2025, 12, 3)) == "środa, 3 grudnia"


def test_time_and_datetime() -> None:
    assert formatter().time(NOON_UTC) == "13:00"
    assert formatter().datetime(NOON_UTC) == "środa, 3 grudnia, 13:00"
    assert (
        formatter("en_GB", tz="Europe/London").datetime(NOON_UTC) == "Wednesday 3 December, 12:00"
    )
    with pytest.raises(FilterError):
        formatter().date("2025-12-03")
