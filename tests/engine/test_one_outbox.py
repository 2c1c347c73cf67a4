"""One outbox for everything that leaves the process: customer messages, support emails,
webhooks; one failure policy; unknown outcomes held; a bad record fails only itself."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from notifier.cli import app as cli
from notifier.config import Settings
from notifier.runtime import create_runtime
from tests.conftest import REPO, make_settings
from tests.engine.conftest import notifications, put
from tests.engine.test_crash import BlockingSink
from tests.fakes.http import Reply
from tests.fakes.smtp import SmtpSink
from tests.fakes.webhook_sink import WebhookSink
from tests.outbox import attempts, drain, rows, run_due

T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
DUE = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
SECRET = "helpdesk-secret"
SUPPORT = "obsluga@sklep.pl"


def escalating_rules(tmp_path: Path) -> Path:
    """The shipped rules, with order-unshipped handing every case to a person."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    path = rules / "order-unshipped.toml"
    text = path.read_text(encoding="utf-8").replace(
        'offer = "delay-compensation"', 'offer = "delay-compensation"\nescalate = true', 1)
    path.write_text(text, encoding="utf-8")
    return rules


def order(n: int, **extra: Any) -> dict[str, Any]:
    return {"external_id": f"o{n}", "number": f"100{n}", "currency": "PLN", "total": "100",
            "payment_status": "paid", "placed_at": T0.isoformat(),
            "ship_by": "2026-12-02T12:00:00+01:00",
            "customer": {"external_id": f"c{n}", "email": f"c{n}@example.pl", "locale": "pl"},
            **extra}


def smtp_settings(tmp_path: Path, db_url: str, port: int, **extra: Any) -> Settings:
    return make_settings(tmp_path, database={"url": db_url}, email={
        "transport": "smtp", "smtp": {"host": "127.0.0.1", "port": port, "starttls": False,
                                      **extra.pop("smtp", {})}}, **extra)


async def test_webhook_and_support_email_share_the_failure_policy(
        tmp_path: Path, db_url: str) -> None:
    """503, 503, 200 at the helpdesk and 451, 451, 250 at the support relay: each is
    delivered once, with three attempts, on the same backoff schedule."""
    smtp = SmtpSink()
    smtp.start()
    try:
        with WebhookSink(secret=SECRET) as hook:
            settings = smtp_settings(
                tmp_path, db_url, smtp.port,
                paths={"rules_dir": escalating_rules(tmp_path)},
                delivery={"backoff_base_s": 60, "max_attempts": 5},
                escalation={"webhook": {"url": hook.url, "secret": SECRET}, "email_to": SUPPORT})
            runtime = create_runtime(settings)
            # No email address: the customer's message goes by SMS (the file outbox), so the
            # relay sees only the support email.
            put(runtime, "order", order(1, customer={"external_id": "c1", "locale": "pl",
                                                     "phone": "+48500100200"}), now=T0)
            runtime.close()
            hook.script(Reply(503, "busy"), Reply(503, "busy"))
            smtp.fail_next("DATA", 451, "4.3.0 try later", times=2)
            assert (await run_due(settings, DUE))["retry"] == 2
            await drain(settings, ("webhook", "support"), start=DUE)
            [webhook], [support] = rows(settings, "webhook"), rows(settings, "support")
    finally:
        smtp.stop()
    [message] = notifications(create_runtime(settings))
    assert (message.status, message.channel) == ("sent", "sms")
    for row in (webhook, support):
        tries = attempts(settings, row.id or 0)
        assert row.status == "sent"
        assert [(a.number, a.outcome) for a in tries] == [(1, "retry"), (2, "retry"),
                                                           (3, "sent")]
        gaps = [(b.started_at - a.started_at).total_seconds() for a, b in pairwise(tries)]
        # The one policy: base 60 s doubling, 50-100 % jitter, for both channels.
        assert 30 <= gaps[0] <= 60 and 60 <= gaps[1] <= 120, (row.kind, gaps)
    assert [e for e, _ in hook.events()] == ["escalation.created"] * 3
    assert [m.rcpt_tos for m in smtp.messages] == [(SUPPORT,)]
    assert hook.requests[0].headers["X-Notifier-Delivery"] == str(webhook.id)
    assert {r.headers["X-Notifier-Delivery"] for r in hook.requests} == {str(webhook.id)}
    listed = CliRunner().invoke(cli, ["--config", str(_config(tmp_path, settings)),
                                      "notifications", "list", "--kind", "webhook"])
    assert listed.exit_code == 0, listed.output
    assert "webhook:escalation.created" in listed.output and "sent" in listed.output
    assert "support" not in listed.output


def _config(tmp_path: Path, settings: Settings) -> Path:
    path = tmp_path / "cli.toml"
    path.write_text(f'[database]\nurl = "{settings.database_url}"\n', encoding="utf-8")
    return path


@pytest.mark.slow
def test_sigkill_after_the_escalation_commit_hands_over_exactly_once(tmp_path: Path) -> None:
    """The worker dies inside the customer's SMTP call, after the escalation, its support
    email and its webhook were committed with the attempt: the next worker sends the email
    and the webhook once each; the customer's message, whose outcome is unknown, is held."""
    sink = BlockingSink(accept=0)  # holds the first DATA (the customer's) until released
    sink.controller.start()
    database = tmp_path / "shared.db"
    try:
        with WebhookSink(secret=SECRET) as hook:
            config = tmp_path / "config.toml"
            config.write_text(
                f'[database]\nurl = "sqlite:///{database}"\n'
                f'[paths]\ndata_dir = "{tmp_path / "var"}"\n'
                f'rules_dir = "{escalating_rules(tmp_path)}"\n'
                f'templates_dir = "{REPO / "templates"}"\n'
                '[email]\ntransport = "smtp"\n'
                f'[email.smtp]\nhost = "127.0.0.1"\nport = {sink.port}\nstarttls = false\n'
                "[delivery]\nlease_s = 300\n"
                f'[escalation]\nemail_to = "{SUPPORT}"\n'
                f'[escalation.webhook]\nurl = "{hook.url}"\nsecret = "{SECRET}"\n',
                encoding="utf-8")
            settings = make_settings(tmp_path, database={"url": f"sqlite:///{database}"})
            runtime = create_runtime(settings)
            from notifier.store.migrate import upgrade

            upgrade(runtime.engine)
            put(runtime, "order", order(1), now=T0)
            runtime.close()

            def tick(moment: datetime) -> subprocess.Popen[str]:
                return subprocess.Popen(
                    [sys.executable, "-m", "notifier.cli", "--config", str(config), "tick",
                     "--now", moment.isoformat()], cwd=tmp_path, text=True,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

            first = tick(DUE)
            assert sink.blocked.wait(timeout=120), "the worker never reached the relay"
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
            sink.release()
            assert [r.status for r in rows(settings, "support")] == ["pending"]
            assert [r.status for r in rows(settings, "webhook")] == ["pending"]
            assert hook.requests == []

            later = DUE + timedelta(seconds=301)  # after the dead worker's lease
            for moment in (later, later + timedelta(minutes=5)):  # a second pass adds nothing
                done = tick(moment)
                out, _ = done.communicate(timeout=120)
                assert done.returncode == 0, out
    finally:
        sink.controller.stop()
    support = [raw for raw in sink.received if f"To: {SUPPORT}".encode() in raw]
    assert len(support) == 1 and len(sink.received) == 1  # the customer's copy: never taken
    assert [e for e, _ in hook.events()] == ["escalation.created"]
    assert hook.verified(now=later)
    [message] = notifications(create_runtime(settings))
    assert message.status == "held" and "on_unknown = hold" in (message.reason or "")
    assert [r.status for r in rows(settings, "support") + rows(settings, "webhook")] == [
        "sent", "sent"]


async def test_slow_relay_is_an_unknown_outcome_held_and_explained(
        tmp_path: Path, db_url: str) -> None:
    """The relay takes the data and answers after the final-reply timeout: not resent."""
    smtp = SmtpSink()
    smtp.start()
    smtp.data_delay_s = 1.5
    try:
        settings = smtp_settings(tmp_path, db_url, smtp.port,
                                 smtp={"final_reply_timeout_s": 0.3})
        runtime = create_runtime(settings)
        put(runtime, "order", order(1), now=T0)
        runtime.close()
        assert (await run_due(settings, DUE))["held"] == 1
        assert await run_due(settings, DUE + timedelta(hours=1)) == {}
    finally:
        smtp.stop()
    assert len(smtp.late) == 1  # it reached the relay once, and was not sent again
    [n] = notifications(create_runtime(settings))
    assert n.status == "held" and "unknown outcome, held" in (n.reason or "")
    assert [a.outcome for a in attempts(settings, n.id or 0)] == ["unknown"]
    why = CliRunner().invoke(cli, ["--config", str(_config(tmp_path, settings)),
                                   "notifications", "why", str(n.id)])
    assert "status: held - unknown outcome, held (on_unknown = hold" in why.output
    assert "attempt 1 email" in why.output and "unknown (smtp-unknown" in why.output


async def test_slow_relay_resent_when_configured(tmp_path: Path, db_url: str) -> None:
    smtp = SmtpSink()
    smtp.start()
    smtp.data_delay_s = 1.5
    try:
        settings = smtp_settings(tmp_path, db_url, smtp.port, smtp={"final_reply_timeout_s": 0.3},
                                 delivery={"on_unknown": "resend", "backoff_base_s": 1})
        runtime = create_runtime(settings)
        put(runtime, "order", order(1), now=T0)
        runtime.close()
        assert (await run_due(settings, DUE))["retry"] == 1
        smtp.data_delay_s = 0
        await run_due(settings, DUE + timedelta(minutes=5))
    finally:
        smtp.stop()
    [n] = notifications(create_runtime(settings))
    assert n.status == "sent"  # at least once: the relay may deliver the first copy too
    assert [a.outcome for a in attempts(settings, n.id or 0)] == ["retry", "sent"]
    assert len(smtp.late) == 1 and len(smtp.messages) == 1


async def test_a_data_error_fails_only_its_own_message(tmp_path: Path, db_url: str) -> None:
    """A template that assumes every order has items breaks for one order without any:
    that message fails with the reason, the others go, the step stays enabled."""
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    body = templates / "order_unshipped" / "pl" / "email.txt"
    body.write_text(body.read_text(encoding="utf-8").replace(
        "{% endblock %}", "{{ order.total / (order.items | length) }}\n{% endblock %}", 1),
        encoding="utf-8")
    settings = make_settings(tmp_path, database={"url": db_url},
                             paths={"templates_dir": templates})
    runtime = create_runtime(settings)
    item = [{"name": "Kubek", "quantity": 1, "price": "100"}]
    put(runtime, "order", order(1, items=item), now=T0)
    put(runtime, "order", order(2, items=[]), now=T0)
    put(runtime, "order", order(3, items=item), now=T0)
    runtime.close()
    result = await run_due(settings, DUE)
    by_order = {n.entity_id: n for n in notifications(create_runtime(settings))}
    statuses = sorted(n.status for n in by_order.values())
    assert statuses == ["failed", "sent", "sent"], result
    [bad] = [n for n in by_order.values() if n.status == "failed"]
    assert (bad.reason or "").startswith("cannot render this message (its data):")
    assert "DivisionByZero" in (bad.reason or "") and "email.txt:20" in (bad.reason or "")
    # The step is not disabled: a fourth order with items still gets its message.
    runtime = create_runtime(settings)
    put(runtime, "order", order(4, items=item), now=DUE)
    runtime.close()
    await run_due(settings, DUE + timedelta(minutes=1))
    assert sorted(n.status for n in notifications(create_runtime(settings))) == [
        "failed", "sent", "sent", "sent"]
