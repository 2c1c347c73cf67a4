"""An aiosmtpd SMTP server on 127.0.0.1 that records every message it accepts.

    sink = SmtpSink()
    sink.start()
    ...                                    # send through the real SMTP channel
    sink.messages[0].message["Subject"]    # parsed email.message.EmailMessage
    sink.connection_count                  # distinct client sessions that sent mail
    sink.fail_next("RCPT", 550, "5.1.1 No such user")
    sink.data_delay_s = 2.0                # accept the data, answer the final "." late
    sink.stop(); sink.start()              # down and up again on the same port
    sink.stop()

The server runs in aiosmtpd's own thread and loop; a message is recorded before the
server answers 250, so it is visible as soon as the client's send returns.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Received:
    peer: Any
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    authenticated_as: str | None


@dataclass
class _Handler:
    sink: SmtpSink
    failures: dict[str, deque[str]] = field(
        default_factory=lambda: {"MAIL": deque(), "RCPT": deque(), "DATA": deque()}
    )

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.failures["MAIL"]:
            return self.failures["MAIL"].popleft()
        self.sink.peers.add(session.peer)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.failures["RCPT"]:
            return self.failures["RCPT"].popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.failures["DATA"]:
            return self.failures["DATA"].popleft()
        raw = bytes(envelope.original_content or envelope.content)
        if self.sink.data_delay_s:  # a slow relay: it takes the message, answers late
            self.sink.late.append(raw)
            await asyncio.sleep(self.sink.data_delay_s)
        login = session.auth_data.login.decode() if session.authenticated else None
        self.sink.messages.append(
            Received(
                peer=session.peer,
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                raw=raw,
                message=message_from_bytes(raw, policy=policy.default),  # type: ignore[arg-type]
                authenticated_as=login,
            )
        )
        return "250 2.0.0 Message accepted"


class SmtpSink:
    """A real SMTP server; optional STARTTLS (``tls``), implicit TLS and AUTH."""

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages: list[Received] = []
        self.peers: set[Any] = set()
        self.data_delay_s = 0.0
        self.late: list[bytes] = []  # data taken by a slow relay before it answered
        self._tls = tls
        self._implicit_tls = implicit_tls
        self._credentials = credentials
        self._handler = _Handler(self)
        self._controller: Controller | None = None

    @property
    def connection_count(self) -> int:
        return len(self.peers)

    @property
    def running(self) -> bool:
        return self._controller is not None

    def fail_next(self, stage: str, code: int, text: str, *, times: int = 1) -> None:
        """Answer the next ``times`` MAIL/RCPT/DATA commands with ``code text``."""
        self._handler.failures[stage].extend([f"{code} {text}"] * times)

    def start(self) -> None:
        kwargs: dict[str, Any] = {}
        if self._implicit_tls:
            kwargs["ssl_context"] = self._tls
        elif self._tls is not None:
            kwargs.update(tls_context=self._tls, require_starttls=True)
        if self._credentials is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        self._controller = Controller(self._handler, hostname=self.host, port=self.port, **kwargs)
        self._controller.start()

    def stop(self) -> None:
        """Stop listening and drop every open session (clients see a disconnect)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self._credentials is not None
            and (auth_data.login.decode(), auth_data.password.decode()) == self._credentials
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)
