"""Stored versions of templates and rules, and which one of each is live.

Every save in the editor (or import of a directory) is a ``content_versions`` row: the
whole message or rule file as text, who wrote it, when, and a note. ``content_live`` names
the published version per (kind, name); workers read it at every tick, so a publish reaches
all of them at their next tick. A version published once keeps ``published_at`` (it shows
as superseded after a newer publish); a restore copies an old version into a new row.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from notifier.store.types import UTCDateTime


class ContentVersion(SQLModel, table=True):
    __tablename__ = "content_versions"
    __table_args__ = (sa.UniqueConstraint("kind", "name", "number",
                                          name="uq_content_versions_number"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16, description="template or rule")
    name: str = Field(max_length=128, description="message folder or rule file stem")
    number: int = Field(description="1, 2, 3... per (kind, name)")
    files: dict[str, str] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False,
                                  description="path -> text; empty: the name was removed")
    author: str | None = Field(default=None, max_length=320)
    note: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    published_by: str | None = Field(default=None, max_length=320)


class LiveContent(SQLModel, table=True):
    __tablename__ = "content_live"

    kind: str = Field(primary_key=True, max_length=16)
    name: str = Field(primary_key=True, max_length=128)
    version_id: int = Field(foreign_key="content_versions.id")
    published_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    published_by: str = Field(max_length=320)
