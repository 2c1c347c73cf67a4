"""The editors' parts that need no browser: the rule form written into TOML (comments
kept), problems tied to their fields and lines, the SMS counter, the variables list, and
test sends as outbox rows: marked, idempotent per form token, rate-limited per user,
delivered by the dispatcher through the configured transport and never in reports."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from notifier.compose import Composer
from notifier.compose.samples import sample_context
from notifier.config import ShopSettings
from notifier.console.pages.editor_preview import locate, render_draft, sms_view, variables
from notifier.console.pages.editor_ruleform import (
    kept_comments,
    problems_by_field,
    read_fields,
    write_fields,
)
from notifier.detect.rules import check_rules
from notifier.domain import Channel, EmailMessage, PushMessage, PushSubscription, SmsMessage
from notifier.reports import daily_counts
from notifier.runtime import Runtime
from notifier.store.db import transaction
from notifier.store.tables import Notification
from notifier.testsend import (
    LIMIT,
    RefusedTestSend,
    from_payload,
    mark_as_test,
    queue_test,
    to_payload,
)
from tests.conftest import REPO

RULES = sorted((REPO / "rules").glob("*.toml"))
NAME_OF_MESSAGE = "order_unshipped"


def form_of(text: str) -> dict[str, str]:
    fields = read_fields(text)
    assert fields is not None
    form = {**fields.values, **{f"params.{k}": v for k, v in fields.params}}
    for i, step in enumerate(fields.steps):
        form.update({f"steps[{i}].{k}": v for k, v in step.items()})
    return form


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.stem)
def test_an_untouched_form_leaves_each_shipped_rule_byte_for_byte(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert write_fields(text, form_of(text)) == text


def test_a_changed_field_lands_in_the_toml_with_the_comments_kept(tmp_path: Path) -> None:
    text = (REPO / "rules" / "cart-abandoned.toml").read_text(encoding="utf-8")
    form = form_of(text) | {"steps[0].delay": "2h", "holdout": "10", "when": "cart.value >= 50"}
    written = write_fields(text, form)
    assert 'delay = "2h"                     # 1 h po ostatniej aktywności' in written
    assert "holdout = 10" in written and 'when = "cart.value >= 50"' in written
    assert written.count("#") == text.count("#")
    kept = kept_comments(text, written)  # named, the operator re-reads them
    assert [k.field for k in kept] == ["holdout", "steps[0].delay"]
    assert kept[1].comment == "# 1 h po ostatniej aktywności / 1 h after last activity"
    assert kept_comments(written, written) == ()  # nothing changed since: nothing to re-read
    assert kept_comments("not = [toml", written) == ()
    added = written.replace('template = "cart_reminder_offer"',
                            'template = "cart_reminder_offer"\nsurvey = "csat"  # new')
    assert [k.field for k in kept_comments(written, added)] == ["steps[1].survey"]
    (tmp_path / "cart-abandoned.toml").write_text(written, encoding="utf-8")
    assert check_rules(tmp_path / "cart-abandoned.toml") == []
    cleared = write_fields(written, form | {"when": ""})
    assert "\nwhen =" not in cleared and cleared.count("#") == text.count("#")


def test_each_rules_check_problem_lands_at_its_field(tmp_path: Path) -> None:
    text = (REPO / "rules" / "cart-abandoned.toml").read_text(encoding="utf-8")
    broken = write_fields(text, form_of(text) | {"steps[1].delay": "0h", "params.wait": "soon",
                                                 "rollout": "150"})
    path = tmp_path / "cart-abandoned.toml"
    path.write_text(broken, encoding="utf-8")
    by_field = problems_by_field(check_rules(path))
    assert set(by_field) == {"steps[1].delay", "params.wait", "rollout"}
    assert "later than the step before" in by_field["steps[1].delay"][0]


def test_the_sms_counter_knows_segments_and_what_is_left() -> None:
    assert (sms_view("a" * 160).segments, sms_view("a" * 160).left) == (1, 0)
    assert (sms_view("a" * 161).segments, sms_view("a" * 161).left) == (2, 153 * 2 - 161)
    polish = sms_view("Paczka dotrze w środę.")
    assert (polish.encoding, polish.segments, polish.left) == ("UCS-2", 1, 70 - 22)


def test_a_draft_renders_every_channel_and_ties_problems_to_its_files() -> None:
    shop = ShopSettings()
    composer = Composer(REPO / "templates", shop, from_addr="Sklep <s@example.pl>")
    ctx = sample_context("order_unshipped", "pl", shop)
    problem = "order_unshipped/pl/email.html:3: undefined: 'nope' is undefined [with offer=none]"
    result = render_draft(composer, "order_unshipped", "pl", ctx,
                          [problem, "_partials/pl/offer.html:2: oops"])
    assert result.email is not None and "Pani Anno" in result.email.html
    assert result.sms is not None and result.push is not None
    assert [(p.file, p.line) for p in result.problems] == [
        ("order_unshipped/pl/email.html", 3), (None, 2)]
    assert ("customer.first_name", "Anna") in result.variables
    assert locate(f"{REPO}/templates/order_unshipped/en/sms.txt:1: too long",
                  "order_unshipped").file == "order_unshipped/en/sms.txt"
    assert dict(variables({"lang": "pl"})) == {"lang": "pl"}


MESSAGES = [
    EmailMessage(to="me@example.pl", subject="Hej", text="t", html="<p>h</p>",
                 headers=(("X-A", "1"),)),
    SmsMessage(to="+48601234567", body="Hej", encoding="GSM-7", segments=1),
    PushMessage(to=PushSubscription("https://push.example/1", "p", "a"), title="Hej", body="b"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.channel.value)
def test_a_test_message_is_marked_and_survives_the_outbox_payload(message) -> None:
    marked = mark_as_test(message)
    assert from_payload(to_payload(marked)) == marked
    shown = {Channel.EMAIL: "subject", Channel.SMS: "body", Channel.PUSH: "title"}
    assert getattr(marked, shown[message.channel.value]).startswith("[TEST] ")
    if isinstance(marked, EmailMessage):
        assert ("X-Notifier-Test", "editor") in marked.headers


def test_test_sends_are_idempotent_per_token_rate_limited_and_not_in_reports(
        runtime: Runtime) -> None:
    now = runtime.clock()
    message = mark_as_test(MESSAGES[0])

    def queue(token: str, at=now) -> int:
        with transaction(runtime.sessions) as session:
            return queue_test(session, message=message, token=token, actor="m@shop.example",
                              actor_id=7, template="order_unshipped", now=at)

    first = queue("t0")
    assert queue("t0") == first  # a double click
    for n in range(1, LIMIT):
        queue(f"t{n}")
    with pytest.raises(RefusedTestSend, match="at most"):
        queue("one-more")
    queue("later", now + timedelta(minutes=11))
    with transaction(runtime.sessions) as session:  # one customer message beside them
        session.add(Notification(key="m", kind="message", rule="order-unshipped", step=0,
                                 entity_kind="order", entity_id=1, template=NAME_OF_MESSAGE,
                                 purpose="transactional", channels=["email"], channel="email",
                                 status="sent", due_at=now, detected_at=now, sent_at=now,
                                 arm="treated"))
    with runtime.sessions() as session:
        rows = session.exec(select(Notification)).all()
        assert [r.kind for r in rows].count("test") == LIMIT + 1
        counted = daily_counts(session, start=now - timedelta(days=1),
                               end=now + timedelta(days=1), timezone="UTC")
    assert [(c.rule, c.count) for c in counted] == [("order-unshipped", 1)]
