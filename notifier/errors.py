"""Every error notifier raises on purpose derives from :class:`NotifierError`.

    NotifierError
    ├── ConfigError            settings are invalid; raised at start-up, names the key
    ├── IngestError            an inbound payload cannot be accepted
    │   ├── SignatureError     the webhook signature is missing or wrong (HTTP 401)
    │   └── PayloadError       the body is malformed or a field is wrong (HTTP 4xx, names it)
    ├── RuleError              a rule file is invalid (file, line, reason)
    ├── TemplateError          a template fails to load or render (file, line, reason);
    │   └── SmsTooLongError    an SMS renders past the segment limit (compose.composer)
    ├── RecipientError         no address for this customer on a channel (compose)
    ├── DeliveryError          a channel could not hand a message over (``permanent``,
    │                          ``retry_after``, ``suppress``, ``unknown`` outcome)
    ├── ConnectorError         a pulled source (BaseLinker) answered with an error
    │                          (``transient``, the provider's code; connectors.errors)
    ├── PositionMoved          another poller advanced the journal first (connectors.errors)
    ├── AuthError              console sign-in refused; ``locked_until`` when locked out
    │                          (console.auth)
    ├── UserError              a console user cannot be added or removed as asked
    │                          (console.auth)
    ├── ErasureError           a customer cannot be erased or exported as asked (privacy)
    └── VersionError           a stored template or rule version asked for does not exist
                               or cannot be stored as given (authoring)

Driver and library errors are kept as ``__cause__``.
"""

from __future__ import annotations

from dataclasses import dataclass


class NotifierError(Exception):
    """Base of every error notifier raises on purpose."""


class ConfigError(NotifierError):
    """Raised at start-up when the configuration is invalid."""


class IngestError(NotifierError):
    """Raised when an inbound payload cannot be accepted."""

    status_code = 400


class SignatureError(IngestError):
    """Raised when a webhook's signature is missing or does not match."""

    status_code = 401


class PayloadError(IngestError):
    """Raised when a payload is malformed; ``field`` names the part at fault."""

    status_code = 422

    def __init__(self, message: str, *, field: str = "", status_code: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status_code = status_code

    def as_detail(self) -> dict[str, str]:
        return {"field": self.field, "error": str(self)}


class RuleError(NotifierError):
    """Raised when a rule file is invalid; ``problems`` lists ``file:line: reason`` strings."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class VersionError(NotifierError):
    """Raised when a stored version does not exist, belongs to another name, or a draft
    names a path outside its message (the message says which)."""


class TemplateError(NotifierError):
    """Raised when a template fails to load or render; the message says file:line and why."""


@dataclass(frozen=True)
class Suppress:
    """What a permanent failure says about the address: never write to it again on this
    channel (for ``purpose``; empty: for every purpose), and why."""

    reason: str
    purpose: str = ""


class DeliveryError(NotifierError):
    """Raised by a channel when a message was not handed over; it carries its consequences.

    ``permanent`` errors (hard bounce, invalid number) are never retried; ``suppress`` says
    whether the address goes on the suppression list (STOP, hard bounce, dead push
    subscription), so no caller decodes ``code``. Transient ones are retried with backoff,
    no sooner than ``retry_after`` seconds. ``unknown`` means the provider may have taken
    the message although we saw no answer (a timeout after the data was sent): the
    ``delivery.on_unknown`` policy decides between resending and holding it.
    """

    def __init__(
        self, reason: str, *, permanent: bool, code: str = "", retry_after: float | None = None,
        suppress: Suppress | None = None, unknown: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code
        self.retry_after = retry_after
        self.suppress = suppress
        self.unknown = unknown
