"""check_templates, preview and the `templates` CLI."""

from __future__ import annotations

import email
import json
from email.message import Message as MimeMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notifier.compose import Composer
from notifier.compose.commands import build_templates_cli
from notifier.compose.samples import sample_context
from notifier.compose.tooling import check_templates, preview
from notifier.config import Settings, ShopSettings
from notifier.domain import Channel
from notifier.errors import TemplateError

from .conftest import SHIPPED_TEMPLATES, WriteTemplates

SHIPPED_MESSAGES = (
    "cart_reminder",
    "cart_reminder_offer",
    "order_unshipped",
    "shipment_late",
    "shipment_stalled",
    "shipment_exception",
    "shipment_at_risk",
    "order_delivered_followup",
)


def test_shipped_templates_pass_check(shop: ShopSettings) -> None:
    assert check_templates(SHIPPED_TEMPLATES, shop) == []
    assert check_templates(SHIPPED_TEMPLATES, ShopSettings()) == []


@pytest.mark.parametrize("message", SHIPPED_MESSAGES)
@pytest.mark.parametrize("locale", ["pl", "en"])
@pytest.mark.parametrize("channel", list(Channel))
def test_every_shipped_message_exists_in_pl_and_en(
    composer: Composer, message: str, locale: str, channel: Channel
) -> None:
    assert composer.locale_for(message, channel, locale) == locale


def test_check_reports_unknown_variable_with_file_and_line(
    write_templates: WriteTemplates, shop: ShopSettings
) -> None:
    root = write_templates(
        {
            "oops/pl/sms.txt": "Zamówienie {{ order.number }}\n{{ order.numer }}",
            "oops/en/sms.txt": "Order {{ order.number }}",
        }
    )
    problems = check_templates(root, shop)
    assert problems == [
        f"{root}/oops/pl/sms.txt:2: undefined: 'notifier.domain.OrderSnapshot object' "
        "has no attribute 'numer' [with offer=percent]"
    ]
    composer = Composer(root, shop, from_addr="x@example.com")
    with pytest.raises(TemplateError, match=r"oops/pl/sms\.txt:2: undefined"):
        composer.render("oops", Channel.SMS, sample_context("oops", "pl", shop))


def test_check_reports_syntax_errors_missing_offer_guards_and_long_sms(
    write_templates: WriteTemplates, shop: ShopSettings
) -> None:
    root = write_templates(
        {
            "_partials/broken.txt": "{% if %}",
            "promo/en/sms.txt": "Code {{ offer.code }}",  # fails when there is no offer
            "promo/en/push.title.txt": "Only a title",  # push.body.txt missing
            "chatty/pl/sms.txt": "Przepraszamy bardzo za opóźnienie. " * 7,
            "chatty/en/sms.txt": "ok",
        }
    )
    problems = "\n".join(check_templates(root, shop))
    assert f"{root}/_partials/broken.txt:1: syntax error" in problems
    assert (
        f"{root}/promo/en/sms.txt:1: undefined: 'None' has no attribute 'code' [with offer=none]"
        in problems
    )
    assert f"{root}/promo/en: push incomplete, missing push.body.txt" in problems
    assert (
        f"{root}/chatty/pl/sms.txt:1: SMS too long: 4 UCS-2 segments (244 characters), limit 3"
        in problems
    )


def test_check_reports_channel_nobody_can_receive(write_templates: WriteTemplates) -> None:
    root = write_templates({"only_de/de/sms.txt": "Hallo"})
    problems = check_templates(root, ShopSettings(default_locale="pl"))
    assert problems == [
        f"{root}/only_de: sms exists only in de; add pl or en so every customer gets it"
    ]


def test_preview_email_parses_into_text_and_inlined_html(
    composer: Composer, shop: ShopSettings, tmp_path: Path
) -> None:
    ctx = sample_context("shipment_late", "pl", shop)
    result = preview(composer, "shipment_late", Channel.EMAIL, ctx, out_dir=tmp_path)
    eml = tmp_path / "shipment_late.pl.eml"
    assert result.files == (eml, tmp_path / "shipment_late.pl.html")

    parsed = email.message_from_bytes(eml.read_bytes(), policy=default_policy)
    assert parsed["Subject"] == "Przepraszamy: paczka z zamówieniem 10234 dotrze 3 grudnia"
    assert parsed.get_content_type() == "multipart/alternative"
    parts: list[MimeMessage] = list(parsed.iter_parts())  # type: ignore[attr-defined]
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    text, html = (p.get_content() for p in parts)  # type: ignore[attr-defined]
    assert "Dzień dobry, Pani Anno," in text
    assert "Dzień dobry, Pani Anno," in html
    assert "<style" not in html
    assert 'class="button"' in html and 'style="' in html
    assert 'style="display: none;' in html  # the preheader, hidden without a stylesheet


def test_preview_sms_and_push_print_encoding_and_segments(
    composer: Composer, shop: ShopSettings, tmp_path: Path
) -> None:
    ctx = sample_context("shipment_late", "pl", shop)
    sms = preview(composer, "shipment_late", Channel.SMS, ctx, out_dir=tmp_path).summary()
    assert "encoding: UCS-2, segments: 3" in sms
    gsm = preview(composer, "shipment_late", Channel.SMS, ctx, transliterate=True).summary()
    assert "encoding: GSM-7, segments: 2" in gsm
    push = preview(composer, "shipment_late", Channel.PUSH, ctx).summary()
    assert "title: Paczka dotrze 3 grudnia — przepraszamy" in push


def make_cli(tmp_path: Path, templates: Path):
    def get_settings() -> Settings:
        return Settings(paths={"templates_dir": templates, "data_dir": tmp_path / "var"})

    return build_templates_cli(get_settings)


def test_cli_check(tmp_path: Path, write_templates: WriteTemplates) -> None:
    runner = CliRunner()
    ok = runner.invoke(make_cli(tmp_path, SHIPPED_TEMPLATES), ["check"])
    assert ok.exit_code == 0, ok.output
    assert f"{len(SHIPPED_MESSAGES)} messages" in ok.output

    broken = write_templates({"x/en/sms.txt": "{{ nope }}"})
    bad = runner.invoke(make_cli(tmp_path, broken), ["check"])
    assert bad.exit_code == 1
    assert "x/en/sms.txt:1: undefined: 'nope' is undefined" in bad.output


def test_cli_preview_with_sample_override(tmp_path: Path) -> None:
    sample = tmp_path / "tomasz.json"
    sample.write_text(
        json.dumps(
            {
                "customer": {"first_name": "Tomasz", "salutation": "mr", "gender": "male"},
                "offer": {"kind": "amount", "value": "20.00", "code": "ZWROT20"},
                "shipment": {"eta": "2025-12-05T12:00:00+01:00"},
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        make_cli(tmp_path, SHIPPED_TEMPLATES),
        [
            "preview",
            "shipment_late",
            "--channel",
            "email",
            "--locale",
            "pl",
            "--sample",
            str(sample),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Dzień dobry, Panie Tomaszu," in result.output
    assert "nowy termin doręczenia to piątek, 5 grudnia, czyli 7 dni później" in result.output
    assert "Kod: ZWROT20 (20,00\u00a0zł zniżki, ważny do 15 grudnia)" in result.output
    assert (out / "shipment_late.pl.eml").is_file()


def test_cli_preview_reports_template_errors(
    tmp_path: Path, write_templates: WriteTemplates
) -> None:
    broken = write_templates({"x/pl/sms.txt": "ok\n{{ nope }}"})
    result = CliRunner().invoke(make_cli(tmp_path, broken), ["preview", "x", "--channel", "sms"])
    assert result.exit_code == 1
    assert "x/pl/sms.txt:2: undefined" in result.output


def test_cli_check_uses_the_configured_sms_limit(tmp_path: Path) -> None:
    def get_settings() -> Settings:
        return Settings(
            paths={"templates_dir": SHIPPED_TEMPLATES, "data_dir": tmp_path},
            delivery={"sms_max_segments": 1},
        )

    result = CliRunner().invoke(build_templates_cli(get_settings), ["check"])
    assert result.exit_code == 1
    assert "SMS too long" in result.output and "limit 1" in result.output
