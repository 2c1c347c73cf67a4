"""Stored versions on both backends: a draft reaches no customer, a publish reaches the
next tick, a restore brings the old text back, a broken version is refused with its
problems, and every publish and restore is in the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from notifier.authoring import (
    check_draft,
    get,
    history,
    live,
    names,
    publish,
    restore,
    save_draft,
)
from notifier.clock import FrozenClock
from notifier.pipeline import Engine
from notifier.runtime import Runtime
from notifier.store.console_tables import AuditEntry
from notifier.store.db import transaction
from tests.conftest import REPO
from tests.engine.conftest import notifications, outbox_files, put, tick

T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
DUE = datetime(2026, 12, 1, 22, 59, 59, tzinfo=UTC) + timedelta(hours=4)
SUBJECT = "order_unshipped/pl/email.subject.txt"
ME = "marketer@shop.pl"


def order(n: int) -> dict[str, object]:
    return {"external_id": str(1000 + n), "currency": "PLN", "total": "249.00",
            "placed_at": T0.isoformat(), "payment_status": "paid", "status": "confirmed",
            "customer": {"external_id": f"c-{n}", "email": f"c{n}@example.pl",
                         "first_name": "Anna", "locale": "pl"}}


def with_subject(runtime: Runtime, subject: str) -> dict[str, str]:
    with runtime.sessions() as session:
        current = live(session, "template", "order_unshipped")
    assert current is not None
    return {**current.files, SUBJECT: subject}


def sent_subjects(runtime: Runtime) -> list[str]:
    return [next(line for line in eml.read_text(encoding="utf-8").splitlines()
                 if line.startswith("Subject:")) for eml in outbox_files(runtime, "email")]


async def test_draft_is_never_sent_publish_is_used_at_the_next_tick_restore_brings_it_back(
    runtime: Runtime, engine: Engine, clock: FrozenClock
) -> None:
    settings = runtime.settings
    with runtime.sessions() as session:
        shipped = live(session, "template", "order_unshipped")
        assert shipped is not None and shipped.number == 1 and shipped.state == "published"
        assert shipped.files[SUBJECT] == (REPO / "templates" / SUBJECT).read_text("utf-8")
        assert "order_unshipped" in names(session, "template")

    with transaction(runtime.sessions) as session:
        draft = save_draft(session, "template", "order_unshipped",
                           with_subject(runtime, "DRAFT-ONLY {{ order.number }}"),
                           author=ME, now=T0, note="try a new subject")
    assert (draft.number, draft.state) == (2, "draft")
    put(runtime, "order", order(1), now=T0)
    await tick(engine, clock, DUE)
    assert len(sent_subjects(runtime)) == 1
    assert not any("DRAFT-ONLY" in s for s in sent_subjects(runtime))

    with transaction(runtime.sessions) as session:
        newer = save_draft(session, "template", "order_unshipped",
                           with_subject(runtime, "NEW-SUBJECT {{ order.number }}"),
                           author=ME, now=T0)
        assert publish(session, settings, "template", "order_unshipped", newer.id,
                       author=ME, now=T0) == []
    put(runtime, "order", order(2), now=T0)
    await tick(engine, clock, DUE + timedelta(minutes=1))
    assert sent_subjects(runtime)[-1] == "Subject: NEW-SUBJECT 1002"

    with transaction(runtime.sessions) as session:
        assert restore(session, settings, "template", "order_unshipped", shipped.id,
                       author=ME, now=T0) == []
    put(runtime, "order", order(3), now=T0)
    await tick(engine, clock, DUE + timedelta(minutes=2))
    assert len(sent_subjects(runtime)) == 3
    assert "NEW-SUBJECT" not in sent_subjects(runtime)[-1]
    assert [n.status for n in notifications(runtime)] == ["sent"] * 3

    with runtime.sessions() as session:
        versions = history(session, "template", "order_unshipped")
        assert [(v.number, v.state) for v in versions] == [
            (4, "published"), (3, "superseded"), (2, "draft"), (1, "superseded")]
        assert versions[0].files == shipped.files
        assert versions[0].note == "restored from version 1"
        audit = session.exec(select(AuditEntry).where(AuditEntry.actor == ME)
                             .order_by(col(AuditEntry.id))).all()
    assert [(a.action, a.target, a.detail["version"]) for a in audit] == [
        ("template.publish", "order_unshipped", 3), ("template.restore", "order_unshipped", 4)]
    assert audit[1].detail["restored"] == 1 and audit[1].detail["replaces"] == 3


async def test_publish_of_a_broken_version_is_refused_with_its_problems(
    runtime: Runtime, engine: Engine, clock: FrozenClock
) -> None:
    settings = runtime.settings
    files = with_subject(runtime, "Zamówienie {{ order.number }}")
    body = "order_unshipped/pl/email.txt"
    files[body] = files[body].replace("{% endblock %}", "{{ no_such_variable }}\n{% endblock %}", 1)
    line = files[body].splitlines().index("{{ no_such_variable }}") + 1
    with transaction(runtime.sessions) as session:
        draft = save_draft(session, "template", "order_unshipped", files, author=ME, now=T0)
    with runtime.sessions() as session:
        problems = check_draft(session, settings, "template", "order_unshipped", files)
    assert any(p.startswith(f"{body}:{line}: undefined") and "no_such_variable" in p
               for p in problems), problems
    with transaction(runtime.sessions) as session:
        assert publish(session, settings, "template", "order_unshipped", draft.id,
                       author=ME, now=T0) == problems
    with runtime.sessions() as session:
        assert get(session, draft.id).state == "draft"
        assert live(session, "template", "order_unshipped").number == 1  # type: ignore[union-attr]
        assert not session.exec(select(AuditEntry).where(AuditEntry.actor == ME)).all()


async def test_a_rule_publish_is_used_at_the_next_tick_and_a_broken_one_refused(
    runtime: Runtime, engine: Engine, clock: FrozenClock
) -> None:
    settings = runtime.settings
    with runtime.sessions() as session:
        rule = live(session, "rule", "cart-abandoned")
    assert rule is not None and list(rule.files) == ["cart-abandoned.toml"]
    text = rule.files["cart-abandoned.toml"]
    broken = text.replace('template = "cart_reminder"', 'template = "no_such_message"', 1)
    assert broken != text
    with transaction(runtime.sessions) as session:
        bad = save_draft(session, "rule", "cart-abandoned", {"cart-abandoned.toml": broken},
                         author=ME, now=T0)
        problems = publish(session, settings, "rule", "cart-abandoned", bad.id, author=ME,
                           now=T0)
    line = broken.splitlines().index('template = "no_such_message"') + 1
    assert problems == [f"cart-abandoned.toml:{line}: steps[0].template: "
                        "no template 'no_such_message'"]

    paused = text.replace('mode = "live"', 'mode = "paused"', 1)
    with transaction(runtime.sessions) as session:
        good = save_draft(session, "rule", "cart-abandoned", {"cart-abandoned.toml": paused},
                          author=ME, now=T0)
        assert publish(session, settings, "rule", "cart-abandoned", good.id, author=ME,
                       now=T0) == []
    assert engine.rules().get("cart-abandoned").mode == "live"  # type: ignore[union-attr]
    await tick(engine, clock, T0)
    assert engine.rules().get("cart-abandoned").mode == "paused"  # type: ignore[union-attr]
