"""The console's languages: Polish and English from Babel catalogs under ``locale/``.

The compiled ``.mo`` files are committed next to their ``.po`` sources (a fresh clone
needs no build step); ``tests/console/test_i18n.py`` checks they are up to date.
To change a text: ``pybabel extract -F notifier/console/babel.cfg -o
notifier/console/locale/console.pot notifier/console``, ``pybabel update -D console -i
... -d notifier/console/locale``, translate, ``pybabel compile -D console -d ...``.
"""

from __future__ import annotations

from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "console"
LOCALES = ("pl", "en")
DEFAULT = "en"


def translations(locale: str) -> Translations:
    found = Translations.load(str(LOCALE_DIR), [locale], domain=DOMAIN)
    if not isinstance(found, Translations):
        raise FileNotFoundError(f"no compiled console catalog for {locale!r} in {LOCALE_DIR}")
    return found


def negotiate(accept_language: str | None, preferred: str | None = None) -> str:
    """The user's own setting, else the best of Accept-Language, else English."""
    if preferred in LOCALES:
        return preferred  # type: ignore[return-value]
    wanted = []
    for part in (accept_language or "").split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        if tag:
            wanted.append((weight, tag.replace("-", "_")))
    for _weight, tag in sorted(wanted, key=lambda w: -w[0]):
        try:
            language = Locale.parse(tag).language if tag != "*" else DEFAULT
        except (ValueError, UnknownLocaleError):
            continue
        if language in LOCALES:
            return language
    return DEFAULT
