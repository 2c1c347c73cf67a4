"""Every console text is in both catalogs, the committed .mo files match their .po, no
template has a literal untranslated text, and every page rendered in Polish shows no
English text of ours (and the other way round)."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from sqlmodel import col, select

from notifier.clock import FrozenClock
from notifier.console.i18n import LOCALE_DIR, LOCALES
from notifier.runtime import Runtime
from notifier.store.tables import Customer, Notification
from tests.console.conftest import sign_in
from tests.console.seed import shop_history

CONSOLE = Path(__file__).resolve().parents[2] / "notifier" / "console"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True",
                                 "lstrip_blocks": "True"}}
# Words that are the same in every language: the product's name, the language switch
# (each language named in itself), units and the JSON format name.
LITERAL_OK = {"notifier", "English", "Polski", "ms", "JSON", "TOML"}


def _extracted() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(CONSOLE), METHODS, options_map=OPTIONS, keywords={"_": None}):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(locale: str):  # type: ignore[no-untyped-def]
    with open(LOCALE_DIR / locale / "LC_MESSAGES" / "console.po", "rb") as f:
        return read_po(f, locale=locale)


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_translates_every_message(locale: str) -> None:
    catalog = _catalog(locale)
    messages = _extracted()
    assert len(messages) > 150
    missing = sorted(m for m in messages if m not in catalog or not catalog[m].string)
    assert missing == []
    fuzzy = sorted(m.id for m in catalog if m.id and m.fuzzy)
    assert fuzzy == []
    unused = sorted(m.id for m in catalog if m.id and m.id not in messages)
    assert unused == []


@pytest.mark.parametrize("locale", LOCALES)
def test_committed_mo_is_compiled_from_the_po(locale: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, _catalog(locale))
    assert (LOCALE_DIR / locale / "LC_MESSAGES" / "console.mo").read_bytes() == \
        compiled.getvalue(), "run pybabel compile -D console -d notifier/console/locale"


def test_polish_differs_where_it_should() -> None:
    catalog = _catalog("pl")
    same = [m.id for m in catalog if m.id and m.string == m.id]
    # Words Polish borrows unchanged.
    assert set(same) <= {"E-mail", "SMS", "Link", "e-mail", "push", "marketing", "operator"}


_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)


class _Text(HTMLParser):
    """Text nodes and translatable attributes, skipping what is data on purpose:
    elements marked ``lang="en"`` (the engine's own recorded reasons and errors),
    ``code``, ``pre``, ``script`` and ``style``."""

    SKIP: ClassVar[set[str]] = {"code", "pre", "script", "style", "title"}
    VOID: ClassVar[set[str]] = {"input", "br", "meta", "link", "img", "hr", "line", "rect"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("placeholder", "title", "aria-label"):
            if values.get(name):
                self.texts.append(values[name] or "")
        if tag in self.VOID:
            return
        skip = tag in self.SKIP or (tag != "html" and values.get("lang") == "en")
        self.stack.append(skip or (bool(self.stack) and self.stack[-1]))

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]) and data.strip():
            self.texts.append(data.strip())


def texts(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.texts


@pytest.mark.parametrize("template", sorted((CONSOLE / "templates").glob("*.html")),
                         ids=lambda p: p.name)
def test_templates_have_no_literal_text(template: Path) -> None:
    source = _JINJA.sub(" ", template.read_text(encoding="utf-8"))
    words = [w for t in texts(source) for w in re.findall(r"[^\W\d_]{2,}", t)]
    assert [w for w in words if w not in LITERAL_OK] == []


def _pages(runtime: Runtime) -> list[str]:
    with runtime.sessions() as session:
        customer = session.exec(select(Customer).order_by(col(Customer.id))).first()
        sent = session.exec(select(Notification).where(Notification.status == "sent")).first()
    assert customer is not None and sent is not None
    return ["/console/", "/console/?by=channel", "/console/?period=30d", "/console/?uplift=1",
            "/console/?partial=uplift", "/console/rules",
            "/console/deliveries", "/console/deliveries?status=sent",
            f"/console/deliveries/{sent.id}", "/console/customers",
            "/console/customers?q=zofia", f"/console/customers/{customer.id}",
            f"/console/customers/{customer.id}/erase", "/console/offers",
            "/console/health", "/console/audit", "/console/nowhere"]


def test_every_page_speaks_only_its_language(runtime: Runtime, clock: FrozenClock,
                                             client: TestClient,
                                             users: dict[str, str]) -> None:
    shop_history(runtime, client, clock)
    pl = {m.id: m.string for m in _catalog("pl") if m.id and m.string != m.id}
    english = {re.sub(r"%\(\w+\)s", "", m).strip() for m in pl}
    polish = {re.sub(r"%\(\w+\)s", "", s).strip() for s in pl.values()}
    seen: dict[str, set[str]] = {"pl": set(), "en": set()}
    for locale, foreign in (("pl", english), ("en", polish)):
        browser = TestClient(client.app)
        sign_in(browser, users["owner"], locale=locale)
        for path in [*_pages(runtime), "/console/login"]:
            response = browser.get(path, headers={"accept-language": f"{locale},en;q=0.1"})
            assert response.status_code in (200, 404), path
            if "<html" in response.text:
                assert f'lang="{locale}"' in response.text, path
            shown = set(texts(response.text))
            seen[locale] |= shown
            wrong = sorted(t for t in shown if t in foreign)
            assert wrong == [], (locale, path, wrong)
    # The check above can fail: the pages did show translated texts in each language.
    assert {"Reguły", "Wysyłki", "Klienci"} <= seen["pl"]
    assert {"Rules", "Deliveries", "Customers"} <= seen["en"]
