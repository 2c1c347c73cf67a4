"""Template filters: money, numbers, dates, plurals and personal address, in any locale.

Every filter formats with the :class:`Formatter` of the message being rendered (the
template's language, the customer's locale and timezone), so one template works for
every customer and a marketer never formats a number by hand.

    {{ order.total|money(order.currency) }}     1 234,50 zł  |  €12.00
    {{ days|plural("dzień", "dni", "dni") }}     1 dzień, 2 dni, 5 dni, 22 dni
    {{ shipment.eta|date }}                      środa, 3 grudnia
    {{ customer|greeting }}                      Dzień dobry, Pani Anno
    {{ customer|by_gender("Pani", "Pan", "Państwo") }}
    {{ offer|discount }}                         10% | 20,00 zł

A filter given a value it cannot format raises :class:`FilterError`; the renderer turns
it into a :class:`~notifier.errors.TemplateError` naming the template file and line.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from jinja2 import pass_context
from jinja2.runtime import Context

from notifier.compose.context import OfferKind, OfferView
from notifier.compose.greeting import FEMALE, MALE, gender_of
from notifier.compose.greeting import greeting as greeting_text
from notifier.domain import CustomerSnapshot

FORMATTER_KEY = "_formatter"

_CLDR_ORDER = ("zero", "one", "two", "few", "many", "other")


class FilterError(ValueError):
    """A filter got a value it cannot format; the message says what to change."""


@dataclass(frozen=True)
class Formatter:
    """How one message formats: ``language`` of the template, Babel ``locale``, ``tz``.

    The locale is the customer's when it speaks the template's language (``en_GB`` for an
    English template) and the template's own otherwise, so a German customer reading the
    English fallback never gets German month names inside English sentences.
    """

    language: str
    locale: Locale
    tz: ZoneInfo
    currency: str

    # --- numbers -------------------------------------------------------------------

    def money(self, value: Any, currency: str | None = None) -> str:
        return _money(str(_decimal(value)), (currency or self.currency).upper(), self.locale)

    def number(self, value: Any, digits: int | None = None) -> str:
        number = _decimal(value)
        if digits is None:
            return babel_numbers.format_decimal(number, locale=self.locale)
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
        return babel_numbers.format_decimal(number, format=pattern, locale=self.locale)

    def percent(self, value: Any) -> str:
        return _percent(str(_decimal(value)), self.locale)

    def discount(self, offer: OfferView) -> str:
        if not isinstance(offer, OfferView):
            raise FilterError(f"discount expects an offer, got {type(offer).__name__}")
        if offer.kind == OfferKind.PERCENT:
            return self.percent(offer.value)
        if offer.kind == OfferKind.AMOUNT:
            return self.money(offer.value, offer.currency)
        raise FilterError(
            f"offer kind {offer.kind.value!r} has no value to print; "
            'branch on offer.kind == "free_shipping" first'
        )

    def plural(self, count: Any, *forms: str, number: bool = True, **by_category: str) -> str:
        chosen = self.plural_form(count, forms, by_category)
        return f"{self.number(count)} {chosen}" if number else chosen

    def plural_form(self, count: Any, forms: tuple[str, ...], by_category: dict[str, str]) -> str:
        required = integer_categories(str(self.locale.language))
        unknown = set(by_category) - set(_CLDR_ORDER)
        if unknown:
            raise FilterError(f"plural: unknown CLDR categories {sorted(unknown)}")
        table = dict(zip(required, forms, strict=False))
        if len(forms) > len(required) and "other" not in table:
            table["other"] = forms[len(required)]
        table.update(by_category)
        missing = [c for c in required if c not in table]
        if missing:
            raise FilterError(
                f"plural in {self.language!r} needs a form for each of {', '.join(required)}; "
                f"missing {', '.join(missing)}"
            )
        category = self.locale.plural_form(_decimal(count))
        return table.get(category) or table[required[-1]]

    # --- dates ---------------------------------------------------------------------

    def date(self, value: Any, format: str = "day") -> str:
        day = self._local(value)
        if isinstance(day, dt.datetime):
            day = day.date()  # what format_date prints of a datetime
        return _date(day, format, self.locale)

    def time(self, value: Any, format: str = "short") -> str:
        moment = self._local(value)
        if not isinstance(moment, dt.datetime):
            raise FilterError(f"time needs a datetime, got {type(value).__name__}")
        return babel_dates.format_time(moment, format, locale=self.locale)

    def datetime(self, value: Any, format: str = "day") -> str:
        moment = self._local(value)
        joiner = str(self.locale.datetime_formats["medium"])
        return joiner.replace("{1}", self.date(moment, format)).replace("{0}", self.time(moment))

    def _local(self, value: Any) -> dt.date:
        if isinstance(value, dt.datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            return aware.astimezone(self.tz)
        if isinstance(value, dt.date):
            return value
        raise FilterError(f"expected a date or datetime, got {type(value).__name__}")

    # --- people --------------------------------------------------------------------

    def greeting(self, customer: CustomerSnapshot | None) -> str:
        return greeting_text(customer, self.language)

    def by_gender(
        self, customer: CustomerSnapshot | None, female: str, male: str, unknown: str
    ) -> str:
        gender = gender_of(customer)
        return female if gender == FEMALE else male if gender == MALE else unknown


_DATE_SKELETONS = {
    "day": "MMMMEd",  # środa, 3 grudnia / Wednesday, December 3
    "day_year": "yMMMMEd",  # środa, 3 grudnia 2025
    "day_month": "MMMMd",  # 3 grudnia / December 3
    "day_month_year": "yMMMMd",  # 3 grudnia 2025
}


# Babel formats a few microseconds' worth of digits in tens of microseconds (pattern
# parsing, CLDR lookups), and a batch of messages prints the same prices, totals and
# dates again and again: each formatting is kept, keyed by its exact inputs (the
# amount as its exact decimal text, so 49.0 and 49.00 stay apart).
@lru_cache(maxsize=4096)
def _money(amount: str, currency: str, locale: Locale) -> str:
    text = babel_numbers.format_currency(Decimal(amount), currency, locale=locale)
    return _currency_spacing(text, babel_numbers.get_currency_symbol(currency, locale))


@lru_cache(maxsize=1024)
def _percent(value: str, locale: Locale) -> str:
    return babel_numbers.format_percent(Decimal(value) / 100, locale=locale)


@lru_cache(maxsize=4096)
def _date(day: dt.date, format: str, locale: Locale) -> str:
    return babel_dates.format_date(day, _date_pattern(format, locale), locale=locale)


def _date_pattern(format: str, locale: Locale) -> str:
    skeleton = _DATE_SKELETONS.get(format)
    if skeleton is None:
        return format  # "short", "medium", "long", "full" or a CLDR pattern
    pattern = str(locale.datetime_skeletons[skeleton].pattern)
    # CLDR's skeletons abbreviate the weekday ("śr."); customers read it in full.
    return re.sub(r"E+", "EEEE", pattern)


@lru_cache(maxsize=64)
def integer_categories(language: str) -> tuple[str, ...]:
    """CLDR plural categories whole numbers fall into, in CLDR order (pl: one, few, many)."""
    rule = Locale.parse(language).plural_form
    seen = {rule(n) for n in range(0, 1000)}
    return tuple(c for c in _CLDR_ORDER if c in seen)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise FilterError(f"expected a number, got {value!r}")
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation as exc:
        raise FilterError(f"expected a number, got {value!r}") from exc


def _currency_spacing(text: str, symbol: str) -> str:
    # CLDR's currencySpacing rule, which Babel does not apply: a letter symbol never
    # touches the digits ("PLN1,234.50" -> "PLN 1,234.50").
    rest = text.removeprefix(symbol)
    if rest != text and symbol[-1:].isalpha() and rest[:1].isdigit():
        return f"{symbol}\u00a0{rest}"
    return text


def formatter_of(context: Context) -> Formatter:
    """The Formatter of the message being rendered, kept in the template context."""
    formatter = context.get(FORMATTER_KEY)
    if not isinstance(formatter, Formatter):
        raise FilterError("this filter needs the message context; import macros `with context`")
    return formatter


def _bind(method: str) -> Callable[..., str]:
    @pass_context
    def apply(context: Context, value: Any, *args: Any, **kwargs: Any) -> str:
        return getattr(formatter_of(context), method)(value, *args, **kwargs)

    apply.__name__ = method
    return apply


FILTER_NAMES = (
    "money",
    "number",
    "percent",
    "discount",
    "plural",
    "date",
    "time",
    "datetime",
    "greeting",
    "by_gender",
)


def filters() -> dict[str, Callable[..., str]]:
    """The filters to register on the environment, each bound to the render's Formatter."""
    return {name: _bind(name) for name in FILTER_NAMES}
