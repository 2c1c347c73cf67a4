"""Tables of the web console: its users, the audit log, and rule switches made in it.

``console_users.failed_logins`` and ``locked_until`` throttle sign-in per account in the
database, so every process serving the console agrees on a lockout. ``session_version``
is bumped on sign-out and password change: every cookie issued before stops working.

``rule_settings`` holds what an operator changed on a rule (mode, rollout, holdout); the
rule files stay as written and every worker lays these rows over them at its next tick.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from notifier.store.types import UTCDateTime


class ConsoleUser(SQLModel, table=True):
    __tablename__ = "console_users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    role: str = Field(max_length=16, description="owner, operator, marketer, viewer")
    password_hash: str = Field(max_length=255)
    locale: str | None = Field(default=None, max_length=8)
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    session_version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """Who changed what and when: one row per change made in the console or the CLI."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    actor: str = Field(max_length=320)
    action: str = Field(max_length=64)
    target: str = Field(max_length=255)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)


class RuleSetting(SQLModel, table=True):
    __tablename__ = "rule_settings"

    rule: str = Field(primary_key=True, max_length=128)
    mode: str | None = Field(default=None, max_length=16, description="live, dry-run, paused")
    rollout: float | None = None
    holdout: float | None = None
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_by: str = Field(max_length=320)
