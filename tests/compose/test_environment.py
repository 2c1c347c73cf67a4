"""The sandbox and strictness: broken or hostile templates fail loudly, never half-render."""

from __future__ import annotations

import dataclasses
import re

import pytest

from notifier.compose import Composer
from notifier.compose.samples import sample_context
from notifier.config import ShopSettings
from notifier.domain import Channel, EmailMessage, SmsMessage
from notifier.errors import TemplateError

from .conftest import WriteTemplates


def render_sms(write_templates: WriteTemplates, shop: ShopSettings, body: str) -> str:
    root = write_templates({"probe/pl/sms.txt": body})
    composer = Composer(root, shop, from_addr="x@example.com")
    message = composer.render("probe", Channel.SMS, sample_context("shipment_late", "pl", shop))
    assert isinstance(message, SmsMessage)
    return message.body


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ customer.__class__.__init__.__globals__ }}",
        "{{ order.items.__class__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ shop.__dict__ }}",
        "{{ '{0.__class__}'.format(order) }}",
        "{% set items = [1] %}{{ items.append(2) }}",
    ],
)
def test_reaching_python_internals_fails_safely(
    write_templates: WriteTemplates, shop: ShopSettings, body: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        render_sms(write_templates, shop, "Hej\n" + body)
    message = str(caught.value)
    assert re.search(r"probe/pl/sms\.txt:2: ", message), message
    assert "unsafe" in message or "undefined" in message


def test_unknown_variable_is_an_error_with_file_and_line(
    write_templates: WriteTemplates, shop: ShopSettings
) -> None:
    with pytest.raises(TemplateError, match=r"probe/pl/sms\.txt:3: undefined: 'ordr' is undefined"):
        render_sms(write_templates, shop, "Linia 1\nLinia 2\n{{ ordr.number }}")


def test_printing_a_missing_value_is_an_error_not_a_blank(
    write_templates: WriteTemplates, shop: ShopSettings
) -> None:
    # The sample order has no delivered_at: printing it must not leave "None" or "".
    with pytest.raises(TemplateError, match=r"sms\.txt:1: printed a missing value"):
        render_sms(write_templates, shop, "Doręczono: {{ order.delivered_at }}")


def test_syntax_error_names_file_and_line(
    write_templates: WriteTemplates, shop: ShopSettings
) -> None:
    with pytest.raises(TemplateError, match=r"sms\.txt:2: syntax error"):
        render_sms(write_templates, shop, "ok\n{% if offer %}no end")


def test_error_inside_an_included_partial_points_at_the_partial(
    write_templates: WriteTemplates, shop: ShopSettings
) -> None:
    write_templates({"_partials/bad.txt": "fine\n{{ nope }}"})
    with pytest.raises(TemplateError, match=r"_partials/bad\.txt:2: undefined"):
        render_sms(write_templates, shop, '{% include "_partials/bad.txt" %}')


def test_html_is_escaped_and_text_is_not(
    write_templates: WriteTemplates, shop: ShopSettings
) -> None:
    root = write_templates(
        {
            "probe/pl/email.subject.txt": "{{ order.items[0].name }}",
            "probe/pl/email.html": "<p>{{ order.items[0].name }}</p>",
            "probe/pl/email.txt": "{{ order.items[0].name }}",
        }
    )
    ctx = sample_context("order_unshipped", "pl", shop)
    evil = dataclasses.replace(ctx.order.items[0], name='<script>alert("x")</script> & Co')
    ctx = dataclasses.replace(ctx, order=dataclasses.replace(ctx.order, items=(evil,)))
    message = Composer(root, shop, from_addr="x@example.com").render("probe", Channel.EMAIL, ctx)
    assert isinstance(message, EmailMessage)
    assert "<script>" not in message.html
    # css-inline re-serialises the document, so quotes in text need no entity.
    assert '<p>&lt;script&gt;alert("x")&lt;/script&gt; &amp; Co</p>' in message.html
    assert message.text.strip() == '<script>alert("x")</script> & Co'


@pytest.mark.parametrize(
    "html",
    [
        '<p>{% include "_partials/line.txt" %}</p>',
        '{% from "_partials/line.txt" import line with context %}<p>{{ line() }}</p>',
    ],
    ids=["include", "macro"],
)
def test_html_cannot_pull_in_unescaped_text_templates(
    write_templates: WriteTemplates, shop: ShopSettings, html: str
) -> None:
    # Jinja marks a macro's output safe in an HTML caller, so a .txt helper would
    # smuggle customer data into HTML unescaped; the environment refuses the mix.
    root = write_templates(
        {
            "_partials/line.txt": "{% macro line() %}{{ order.number }}{% endmacro %}"
            "{{ order.number }}",
            "probe/pl/email.subject.txt": "Temat",
            "probe/pl/email.html": "\n" + html,
            "probe/pl/email.txt": "ok",
        }
    )
    composer = Composer(root, shop, from_addr="x@example.com")
    ctx = sample_context("order_unshipped", "pl", shop)
    with pytest.raises(
        TemplateError, match=r"probe/pl/email\.html:2: unsafe.*escaping would differ"
    ):
        composer.render("probe", Channel.EMAIL, ctx)
