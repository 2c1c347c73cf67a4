"""The reports' daily roll-up of customer messages (#14, #15), kept exact by a change log.

- ``report_days``: per shop-local day, rule, step, arm, status, channel, skip reason and
  conversion currency, how many notifications and how many of them were sent, delivered,
  bounced, ... converted, with their revenue (in that currency). Every count a report or
  the dashboard shows is a sum of these rows over whole days.
- ``report_firsts``: customers assigned do not sum over days (one customer, two days), so
  each (rule, arm, customer) row on a day is stored with the day of that customer's
  *previous* row in the rule and arm (``prev_day``, NULL for the first ever): the customers
  of days ``[a, b]`` are the rows of those days whose ``prev_day`` is before ``a`` — exact.
- ``report_changes``: written by database triggers (see the migration ``0013``) whenever a
  counted column of a notification changes, or a row is inserted or deleted, on a day the
  roll-up already covers (``detected_at < report_rollup_state.logged_until``); the
  refresh re-computes those days and empties the log, so a late conversion or click on a
  closed day is never lost.
- ``report_rollup_state``: one row: the zone the days are in, the days rolled up
  (``rolled_until``, exclusive) and from when the triggers log changes.

Empty strings stand for NULL in the key columns of ``report_days`` (a NULL never groups
with another in a unique key, and an empty string is never a real arm or channel).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from notifier.store.tables import Money
from notifier.store.types import UTCDateTime


class ReportDay(SQLModel, table=True):
    __tablename__ = "report_days"
    __table_args__ = (sa.Index("ix_report_days_day_rule", "day", "rule"),)

    id: int | None = Field(default=None, primary_key=True)
    day: date
    rule: str = Field(max_length=128)
    step: int
    arm: str = Field(max_length=8)
    status: str = Field(max_length=16)
    channel: str = Field(max_length=16)
    reason: str = Field(sa_type=sa.Text)
    currency: str = Field(max_length=3)
    rows: int
    sent: int
    delivered: int
    bounced: int
    complained: int
    unsubscribed: int
    opened: int
    clicked: int
    converted: int
    revenue: Decimal = Field(sa_type=Money)


class ReportFirst(SQLModel, table=True):
    __tablename__ = "report_firsts"
    __table_args__ = (sa.Index("ix_report_firsts_rule_day", "rule", "day", "arm"),)

    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(max_length=128)
    arm: str = Field(max_length=8)
    day: date
    prev_day: date | None = None
    subjects: int


class ReportChange(SQLModel, table=True):
    __tablename__ = "report_changes"

    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(max_length=128)
    detected_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    customer_id: int | None = None
    entity_id: int | None = None
    # An insert, a delete, or a changed arm or customer: the next row of the customer
    # (maybe on a later day) has a new previous row, so report_firsts changes there too.
    moved: bool = False


class ReportRollupState(SQLModel, table=True):
    __tablename__ = "report_rollup_state"

    id: int = Field(default=1, primary_key=True)
    timezone: str = Field(max_length=64)
    rolled_until: date | None = None
    logged_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
