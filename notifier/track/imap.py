"""The bounce mailbox (``[email.bounces]``): DSNs read over IMAP on a schedule.

For shops relaying through their own SMTP server, bounces come back as mail. Each
unseen message of the mailbox is parsed (:mod:`notifier.track.dsn`), its receipts
recorded (one per DSN and recipient: reading a message twice changes nothing), and
then marked ``\\Seen`` (or deleted with ``delete_processed``). A message that is no
DSN is marked seen and left alone. IMAP is ``imaplib`` over TLS, STARTTLS or plain.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import ssl
from collections import Counter
from datetime import datetime

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from notifier.config import BounceMailboxSettings
from notifier.track import dsn
from notifier.track.outcomes import record
from notifier.track.verp import parse_return_path

log = logging.getLogger(__name__)


class BounceMailbox:
    def __init__(self, settings: BounceMailboxSettings, *, secret: str,
                 tls_context: ssl.SSLContext | None = None, timeout_s: float = 30.0) -> None:
        self.settings = settings
        self.secret = secret
        self.tls = tls_context or ssl.create_default_context()
        self.timeout_s = timeout_s

    def _connect(self) -> imaplib.IMAP4:
        s = self.settings
        if s.ssl:
            client: imaplib.IMAP4 = imaplib.IMAP4_SSL(s.host, s.port, ssl_context=self.tls,
                                                      timeout=self.timeout_s)
        else:
            client = imaplib.IMAP4(s.host, s.port, timeout=self.timeout_s)
            if s.starttls:
                client.starttls(self.tls)
        client.login(s.username, s.password.get_secret_value())
        return client

    def _verp(self, address: str) -> int | None:
        if not self.settings.verp_domain:
            return None
        return parse_return_path(address, local=self.settings.verp_local,
                                 domain=self.settings.verp_domain, secret=self.secret)

    def poll(self, factory: sessionmaker[Session], *, now: datetime) -> Counter[str]:
        """Read every unseen message once; counts of messages and receipts."""
        done: Counter[str] = Counter()
        client = self._connect()
        try:
            status, _ = client.select(self.settings.mailbox)
            if status != "OK":
                raise imaplib.IMAP4.error(f"cannot select {self.settings.mailbox}")
            _, found = client.uid("SEARCH", "UNSEEN")  # type: ignore[arg-type]
            for uid in (found[0] or b"").split():
                _, data = client.uid("FETCH", uid, "(BODY.PEEK[])")  # type: ignore[arg-type]
                raw = next((part[1] for part in data
                            if isinstance(part, tuple) and isinstance(part[1], bytes)), b"")
                found_receipts = dsn.receipts(raw, received=now, verp=self._verp)
                done["messages"] += 1
                done["receipts"] += record(factory, found_receipts, now=now)
                if not found_receipts:
                    done["not_dsn"] += 1
                # Only after the receipts are committed: a crash before re-reads the
                # message next time, and the receipts' unique key keeps them single.
                if self.settings.delete_processed and found_receipts:
                    client.uid("STORE", uid, "+FLAGS", r"(\Deleted)")  # type: ignore[arg-type]
                else:
                    client.uid("STORE", uid, "+FLAGS", r"(\Seen)")  # type: ignore[arg-type]
            if self.settings.delete_processed:
                client.expunge()
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()
        log.info("bounce mailbox: %s", dict(done))
        return done
