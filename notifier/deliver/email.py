"""Email over SMTP, on a small pool of persistent connections.

Opening an SMTP session costs a TCP handshake, TLS and AUTH; sending a batch over a few
reused sessions is what keeps a relay from throttling us. Servers drop idle sessions at
will, so a send that finds its pooled connection closed before the message data went out
retries once on a fresh one.

Once the data is sent, only the relay's final reply tells whether it took the message.
We wait for it as long as RFC 5321 (4.5.3.2.6) asks, ten minutes by default
(``final_reply_timeout_s``); a timeout or a lost connection then is an *unknown outcome*
(``DeliveryError.unknown``), never an ordinary retry: the relay may deliver it anyway.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from dataclasses import replace
from email.utils import parseaddr

from aiosmtplib import (
    SMTP,
    SMTPAuthenticationError,
    SMTPConnectError,
    SMTPException,
    SMTPHeloError,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from notifier.config import SmtpSettings
from notifier.deliver.base import ChannelBase, key_digest, permanent, transient, unknown
from notifier.domain import Channel, EmailMessage, Outgoing, SendResult
from notifier.errors import DeliveryError
from notifier.mime import mime_bytes


def message_id(idempotency_key: str, from_addr: str) -> str:
    """The Message-ID for a notification: the same key always yields the same id,
    so a resend after an unclear failure is recognisable (and deduplicated by many MUAs)."""
    domain = _mailbox(from_addr).rpartition("@")[2] or "notifier.local"
    return f"<{key_digest(idempotency_key)}.notifier@{domain}>"


def _mailbox(value: str) -> str:
    """The bare address of ``Name <address>``; a bare address is taken as it is."""
    if value.count("@") == 1 and not any(c in value for c in ' <>"(),;:\t\r\n'):
        return value
    return _parsed_mailbox(value)


@functools.lru_cache(maxsize=256)  # the sender is the same for every message
def _parsed_mailbox(value: str) -> str:
    return parseaddr(value)[1]


class SmtpEmailChannel(ChannelBase):
    """Sends :class:`EmailMessage` through one SMTP relay (STARTTLS or implicit TLS).

    ``default_from`` fills messages rendered without a sender; ``tls_context`` overrides
    certificate checks (a private CA, or tests with a self-signed certificate).
    """

    kind = Channel.EMAIL
    name = "smtp"

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        default_from: str,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._settings = settings
        self._default_from = default_from
        self._tls_context = tls_context
        self._idle: list[SMTP] = []
        self._slots = asyncio.Semaphore(max(1, settings.pool_size))

    async def send(self, outgoing: Outgoing) -> SendResult:
        message = self._message(outgoing, EmailMessage)
        if not message.from_addr:
            message = replace(message, from_addr=self._default_from)
        msgid = message_id(outgoing.idempotency_key, message.from_addr)
        data = mime_bytes(message, message_id=msgid)
        sender = message.return_path or _mailbox(message.from_addr)
        recipient = _mailbox(message.to)
        async with self._slots:
            try:
                response = await self._send_pooled(data, sender, recipient)
            except ValueError as exc:  # aiosmtplib refuses an unparseable address
                raise permanent(f"smtp: {exc}", "invalid-address") from exc
            except DeliveryError:
                raise
            except (SMTPException, OSError) as exc:
                raise _delivery_error(exc) from exc
        return SendResult(provider_id=msgid, detail=response)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for smtp in idle:
            try:
                await smtp.quit()
            except (SMTPException, OSError):
                smtp.close()

    async def _send_pooled(self, data: bytes, sender: str, recipient: str) -> str:
        if self._idle:
            try:
                return await self._send_on(self._idle.pop(), data, sender, recipient)
            except SMTPServerDisconnected:
                pass  # the server closed the idle session; one fresh attempt follows
            except SMTPResponseException as exc:
                if exc.code != 421:  # 421: "closing connection", typical for idle timeouts
                    raise
        return await self._send_on(await self._connect(), data, sender, recipient)

    async def _send_on(self, smtp: SMTP, data: bytes, sender: str, recipient: str) -> str:
        # Flattened by mime_bytes, not by send_message: its SMTP policy refolds long
        # headers (List-Unsubscribe) into encoded words.
        utf8 = not (sender + recipient).isascii() and smtp.supports_extension("smtputf8")
        try:
            await smtp.mail(sender, options=["SMTPUTF8"] if utf8 else None)
            await smtp.rcpt(recipient)
        except SMTPResponseException:
            await self._reset(smtp)  # refused before the data: the session is still usable
            raise
        except BaseException:
            smtp.close()
            raise
        try:
            response = await smtp.data(data, timeout=self._settings.final_reply_timeout_s)
        except SMTPResponseException:
            await self._reset(smtp)  # the relay answered: refused, a known outcome
            raise
        except (SMTPTimeoutError, SMTPServerDisconnected, OSError) as exc:
            smtp.close()
            raise unknown(f"smtp: no final reply after the message data ({exc!r}); the "
                          "relay may have accepted it", "smtp-unknown") from exc
        except BaseException:
            smtp.close()
            raise
        self._release(smtp)
        return response.message

    async def _reset(self, smtp: SMTP) -> None:
        try:
            await smtp.rset()
        except (SMTPException, OSError):
            smtp.close()
            return
        self._release(smtp)

    def _release(self, smtp: SMTP) -> None:
        if smtp.is_connected:
            self._idle.append(smtp)
        else:
            smtp.close()

    async def _connect(self) -> SMTP:
        s = self._settings
        smtp = SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username or None,
            password=s.password.get_secret_value() if s.username else None,
            use_tls=s.use_tls,
            start_tls=False if s.use_tls else s.starttls,
            timeout=s.timeout_s,
            tls_context=self._tls_context,
        )
        try:
            await smtp.connect()
        except BaseException:
            smtp.close()
            raise
        return smtp


def _delivery_error(exc: SMTPException | OSError) -> DeliveryError:
    """5xx about the recipient or the message is permanent; everything that a fixed
    configuration or a recovered server can cure (auth, sender, 4xx, network) is transient."""
    if isinstance(exc, SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]  # one recipient per message
    if isinstance(exc, SMTPAuthenticationError | SMTPSenderRefused | SMTPHeloError):
        return transient(f"smtp: {exc}", f"smtp-config:{exc.code}")
    if isinstance(exc, SMTPTimeoutError | TimeoutError):
        return transient(f"smtp: {exc}", "smtp-timeout")
    if isinstance(exc, SMTPResponseException) and not isinstance(exc, SMTPConnectError):
        if 550 <= exc.code <= 554:  # mailbox unavailable, not accepted: a hard bounce
            return permanent(f"smtp {exc.code}: {exc.message}", f"smtp-5xx:{exc.code}",
                             suppress=f"hard bounce (smtp-5xx:{exc.code})")
        if 500 <= exc.code < 600:
            return permanent(f"smtp {exc.code}: {exc.message}", f"smtp-5xx:{exc.code}")
        return transient(f"smtp {exc.code}: {exc.message}", f"smtp-4xx:{exc.code}")
    return transient(f"smtp: {exc}", "smtp-connection")
