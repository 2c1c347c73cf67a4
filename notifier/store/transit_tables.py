"""The fitted transit models, versioned: every worker predicts with the newest one.

A refit inserts a new row (``version`` unique and increasing); nothing is updated in
place, so a worker that loaded version 7 keeps a consistent model while version 8 is
written, and the history of fits stays to compare.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, select

from notifier.store.types import UTCDateTime


class TransitModelRow(SQLModel, table=True):
    __tablename__ = "transit_models"

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(unique=True)
    fitted_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    trained_from: datetime = Field(sa_type=UTCDateTime, nullable=False)
    trained_to: datetime = Field(sa_type=UTCDateTime, nullable=False)
    parcels: int = 0
    curves: int = 0
    model: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)


def latest_version(session: Session) -> int | None:
    return session.exec(select(sa.func.max(col(TransitModelRow.version)))).one()


def latest_model(session: Session) -> TransitModelRow | None:
    return session.exec(select(TransitModelRow)
                        .order_by(col(TransitModelRow.version).desc()).limit(1)).first()


def add_model(session: Session, *, model: dict[str, Any], fitted_at: datetime,
              trained_from: datetime, trained_to: datetime, parcels: int,
              curves: int) -> int:
    """Store a fitted model as the next version; returns the version."""
    version = (latest_version(session) or 0) + 1
    session.add(TransitModelRow(version=version, fitted_at=fitted_at,
                                trained_from=trained_from, trained_to=trained_to,
                                parcels=parcels, curves=curves, model=model))
    session.flush()
    return version
