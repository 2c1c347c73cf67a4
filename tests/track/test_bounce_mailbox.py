"""The bounce mailbox: DSNs as Postfix, Exim, Gmail and Microsoft 365 produce them,
classified (5.x.x hard, 4.x.x soft, delayed = deferred), first as a table of parses,
then read from a real Dovecot IMAP server started by the suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from notifier.clock import FrozenClock
from notifier.config import Settings
from notifier.runtime import Runtime
from notifier.store.tables import Notification, Suppression
from notifier.track import dsn
from notifier.track.imap import BounceMailbox
from notifier.track.verp import parse_return_path, return_path
from tests.conftest import make_settings
from tests.fakes.dovecot import DOVECOT, PASSWORD, USER, Dovecot
from tests.track.test_receipts import sent_email

DSNS = Path(__file__).parent / "dsn"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
# file: (kind, bounce kind, status)
EXPECTED = {
    "postfix_hard.eml": ("bounced", "hard", "5.1.1"),
    "postfix_delayed.eml": ("deferred", None, "4.4.1"),
    "exim_hard.eml": ("bounced", "hard", "5.1.1"),
    "gmail_hard.eml": ("bounced", "hard", "5.1.1"),
    "microsoft365_hard.eml": ("bounced", "hard", "5.1.10"),
    "microsoft365_soft.eml": ("bounced", "soft", "4.2.2"),
}
SECRET = "dev-insecure-secret"


def filled(name: str, *, message_id: str, recipient: str,
           verp: str = "bounces@sklep.example.pl") -> bytes:
    text = (DSNS / name).read_text(encoding="utf-8")
    return text.replace("{MESSAGE_ID}", message_id).replace("{RECIPIENT}", recipient) \
        .replace("{VERP}", verp).encode()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_dsn_is_classified(name: str) -> None:
    raw = filled(name, message_id=f"<{name}@sklep.example.pl>", recipient="anna@example.pl")
    [receipt] = dsn.receipts(raw, received=NOW)
    assert (receipt.kind, receipt.bounce_kind, receipt.status) == EXPECTED[name]
    assert receipt.message_ids == (f"<{name}@sklep.example.pl>",)
    assert receipt.address == "anna@example.pl" and receipt.detail


def test_verp_names_the_notification_without_headers() -> None:
    verp = return_path(77, local="bounces", domain="sklep.example.pl", secret=SECRET)
    assert parse_return_path(verp, local="bounces", domain="sklep.example.pl",
                             secret=SECRET) == 77
    forged = verp.replace(verp.split("-")[-1][:2], "00" if not verp.endswith("00") else "11")
    assert parse_return_path(forged, local="bounces", domain="sklep.example.pl",
                             secret=SECRET) is None
    raw = filled("postfix_hard.eml", message_id="<unknown@x>", recipient="a@example.pl",
                 verp=verp)
    [receipt] = dsn.receipts(raw, received=NOW, verp=lambda a: parse_return_path(
        a, local="bounces", domain="sklep.example.pl", secret=SECRET))
    assert receipt.notification_id == 77


def test_not_a_bounce_gives_nothing() -> None:
    assert dsn.receipts(b"From: a@b\r\nSubject: hello\r\n\r\nhi\r\n", received=NOW) == []


# --- a real IMAP mailbox --------------------------------------------------------------


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    if not DOVECOT.exists():
        message = f"{DOVECOT} missing (apt-get install dovecot-imapd; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: the mailbox tests must run)")
        pytest.skip(message)
    server = Dovecot()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path: Path, db_url: str, dovecot: Dovecot) -> Settings:
    return make_settings(tmp_path, database={"url": db_url}, email={"bounces": {
        "enabled": True, "host": "127.0.0.1", "port": dovecot.port, "ssl": False,
        "username": USER, "password": PASSWORD, "verp_domain": "sklep.example.pl"}})


def test_dsns_read_from_the_mailbox_once(runtime: Runtime, dovecot: Dovecot,
                                         clock: FrozenClock) -> None:
    ids = {}
    for i, name in enumerate(sorted(EXPECTED)):
        recipient = f"klient{i}@example.pl"
        message_id = f"<n{i}.notifier@sklep.example.pl>"
        ids[name] = sent_email(runtime, provider_id=message_id, recipient=recipient)
        dovecot.append(filled(name, message_id=message_id, recipient=recipient))
    dovecot.append(b"From: someone@example.pl\r\nSubject: not a bounce\r\n\r\nhello\r\n")
    mailbox = BounceMailbox(runtime.settings.email.bounces, secret=SECRET)
    done = mailbox.poll(runtime.sessions, now=NOW)
    assert done == {"messages": 7, "receipts": 6, "not_dsn": 1}
    with runtime.sessions() as session:
        for name, nid in ids.items():
            n = session.get(Notification, nid)
            assert n is not None
            kind, bounce, _ = EXPECTED[name]
            if kind == "deferred":
                assert n.deferred_at is not None and n.bounced_at is None, name
            else:
                assert (n.bounce_kind, n.bounced_at is not None) == (bounce, True), name
                assert (n.status == "undelivered") == (bounce == "hard"), name
        suppressed = {s.address for s in session.exec(select(Suppression))}
    hard = {f"klient{i}@example.pl" for i, name in enumerate(sorted(EXPECTED))
            if EXPECTED[name][1] == "hard"}
    assert suppressed == hard
    assert all(b"\\Seen" in flags for flags in dovecot.flags())
    assert mailbox.poll(runtime.sessions, now=NOW + timedelta(minutes=5)) == {}
