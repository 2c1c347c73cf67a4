"""Where pull connectors keep their place and their health, one row per connector.

A connector (BaseLinker today) stores its journal position in the same transaction as
the data it read up to there, so a crash either keeps both or neither: no event is
skipped and none counted twice. The health columns are failure stored as data: the
``/healthz`` detail and the metrics read them instead of a process's memory.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from notifier.store.types import UTCDateTime, utcnow


def _ts() -> datetime | None:
    return Field(default=None, sa_type=UTCDateTime, nullable=True)  # type: ignore[no-any-return]


class ConnectorState(SQLModel, table=True):
    """One pull connector's position and health.

    ``journal_position`` is the last journal event applied (None: never read).
    ``resync_from`` is set while a re-synchronisation by date is under way: the
    confirmation date the next page starts at; ``resync_reason`` says why it began.
    ``retry_at`` holds polls back after failures (exponential backoff).
    """

    __tablename__ = "connector_states"

    name: str = Field(primary_key=True, max_length=64)
    journal_position: int | None = Field(default=None, sa_type=sa.BigInteger)
    journal_read_at: datetime | None = _ts()
    resync_from: datetime | None = _ts()
    resync_reason: str | None = Field(default=None, max_length=255)
    last_resync_at: datetime | None = _ts()
    last_poll_at: datetime | None = _ts()
    last_success_at: datetime | None = _ts()
    last_failure_at: datetime | None = _ts()
    consecutive_failures: int = 0
    healthy: bool = True
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    retry_at: datetime | None = _ts()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
