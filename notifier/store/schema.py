"""Imports every table module so ``SQLModel.metadata`` knows the whole schema.

Alembic's env.py and the test fixtures import this module; a new table module is added
here with one import line.
"""

import notifier.store.authoring_tables
import notifier.store.connector_tables
import notifier.store.consent_log
import notifier.store.console_tables
import notifier.store.escalation_tables
import notifier.store.idempotency
import notifier.store.offer_tables
import notifier.store.push_tables
import notifier.store.report_tables
import notifier.store.track_tables
import notifier.store.transit_tables  # noqa: F401
from notifier.store import tables  # noqa: F401
