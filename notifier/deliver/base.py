"""The channel contract every provider implements.

A channel turns one :class:`~notifier.domain.Outgoing` into one provider call::

    channel = channels[outgoing.message.channel]
    try:
        result = await channel.send(outgoing)      # SendResult(provider_id=..., ...)
    except DeliveryError as exc:
        ...  # exc.permanent -> suppress/give up; else retry after exc.retry_after or backoff

Channels hold connections (SMTP pool, HTTP sessions) and must be closed with
:meth:`ChannelBase.aclose` when the process stops.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import ClassVar, TypeVar

from notifier.domain import Channel, Integration, Message, Outgoing, SendResult
from notifier.errors import DeliveryError, Suppress

M = TypeVar("M", bound=Message)


class ChannelBase(ABC):
    """One way out to a provider; variable parts are class attributes.

    ``kind`` is the :class:`Channel` this implementation serves, ``name`` the provider
    (shown in logs and attempt records), ``body_maxlen`` the provider's limit on the
    body it accepts (characters for SMS, bytes of JSON payload for push; ``None`` means
    no limit we enforce). ``send`` either returns what the provider accepted or raises
    :class:`DeliveryError` with ``permanent`` set; it never returns a bare failure.
    """

    kind: ClassVar[Channel | Integration]
    name: ClassVar[str]
    body_maxlen: ClassVar[int | None] = None
    #: The provider's request budget as (calls, per seconds); None: none we know of. The
    #: dispatcher enforces it (``delivery.rate_limits`` overrides it per channel).
    rate_limit: ClassVar[tuple[int, float] | None] = None
    #: Whether sending the same idempotency key twice reaches the recipient once (the
    #: receiver deduplicates): then a lost answer is simply retried, never held.
    idempotent: ClassVar[bool] = False

    @abstractmethod
    async def send(self, outgoing: Outgoing) -> SendResult:
        """Hand one message to the provider, or raise :class:`DeliveryError`."""

    async def aclose(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Release pooled connections; channels without any have nothing to do."""

    async def __aenter__(self) -> ChannelBase:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _message(self, outgoing: Outgoing, expected: type[M]) -> M:
        # The dispatcher routes by message.channel, so a mismatch is a wiring bug; it is
        # still reported as a permanent DeliveryError so the attempt is recorded, not lost.
        message = outgoing.message
        if not isinstance(message, expected):
            raise DeliveryError(
                f"{self.name} channel cannot send {type(message).__name__}",
                permanent=True,
                code="unsupported-message",
            )
        return message

    def _check_length(self, size: int) -> None:
        if self.body_maxlen is not None and size > self.body_maxlen:
            raise DeliveryError(
                f"{self.name}: body of {size} exceeds the limit of {self.body_maxlen}",
                permanent=True,
                code="too-long",
            )


def key_digest(idempotency_key: str, length: int = 32) -> str:
    """A stable, opaque token for an idempotency key (keys may hold customer ids)."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:length]


def safe_filename(idempotency_key: str) -> str:
    """A file name stem that is readable, cannot escape its directory and never collides."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", "_", idempotency_key).strip("_")[:80]
    digest = key_digest(idempotency_key, 12)
    return f"{readable}-{digest}" if readable else digest


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def transient(reason: str, code: str, retry_after: float | None = None) -> DeliveryError:
    return DeliveryError(reason, permanent=False, code=code, retry_after=retry_after)


def permanent(reason: str, code: str, *, suppress: str = "") -> DeliveryError:
    """A failure retrying cannot cure; with ``suppress`` the address is never used again
    on this channel (the text is the suppression's reason)."""
    return DeliveryError(reason, permanent=True, code=code,
                         suppress=Suppress(suppress) if suppress else None)


def unknown(reason: str, code: str) -> DeliveryError:
    """The provider may have accepted the message: we sent it and saw no answer."""
    return DeliveryError(reason, permanent=False, code=code, unknown=True)
