"""Errors raised by pull connectors.

    NotifierError
    ├── ConnectorError       a platform API call failed; ``code`` and ``message`` are the
    │                        platform's own, ``transient`` says whether waiting can help
    │                        (network, HTTP 5xx/429, request limits) and ``retry_after``
    │                        how long the platform asked us to wait
    └── PositionMoved        another poller stored a newer position first; this poll's
                             batch is dropped (nothing lost: the other one applied it)

Library errors (``httpx``) are kept as ``__cause__``.
"""

from __future__ import annotations

from notifier.errors import NotifierError


class ConnectorError(NotifierError):
    """Raised when a platform API call fails, after any retries."""

    def __init__(self, message: str, *, code: str = "", method: str = "",
                 transient: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.method = method
        self.transient = transient
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f"{self.method}: " if self.method else ""
        code = f"[{self.code}] " if self.code else ""
        return f"{where}{code}{self.message}"


class PositionMoved(NotifierError):
    """Raised inside a poller's transaction when the stored position is not the one it read."""
