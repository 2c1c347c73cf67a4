"""Erasure (the right to be forgotten): remove or irreversibly anonymise one person.

What stays is what reports count: the customer row (emptied, its shop id replaced), its
orders, notifications and offers keep their rows and statuses, so every count for any
period is the same after erasure. What goes:

- the person's fields on ``customers`` and ``carts`` (e-mail, phone, names, push
  subscriptions, recovery links), parcel numbers and links, message recipients;
- suppressions of their addresses and their browsers' push subscriptions;
- raw inbound payloads that mention them (replaced by ``{"erased": true}``);
- then a sweep of every text and JSON column of every table for the e-mail, phone and
  full name (so a table added later is covered too);
- files under the data directory that mention them (the file outbox), deleted;
- on SQLite, the freed pages: the WAL is checkpointed and the file vacuumed, so the old
  bytes are not left in the database file.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, SQLModel, col, select

from notifier.errors import NotifierError
from notifier.privacy.customers import Identity, identity
from notifier.store import audit
from notifier.store.db import transaction
from notifier.store.push_tables import PushSubscriptionRow
from notifier.store.tables import (
    Cart,
    Customer,
    InboundEvent,
    Notification,
    Order,
    Shipment,
    Suppression,
)

ERASED = "[erased]"
ERASED_PAYLOAD = json.dumps({"erased": True})
SQLITE_FILES = (".db", ".db-wal", ".db-shm", ".db-journal", ".sqlite")


class ErasureError(NotifierError):
    """The customer cannot be erased or exported as asked (unknown id, confirmation
    that does not match)."""


@dataclass
class ErasureReport:
    customer_ids: tuple[int, ...]
    rows: Counter[str] = field(default_factory=Counter)
    files_removed: list[str] = field(default_factory=list)


def erase_customer(sessions: sessionmaker[Session], *, customer_id: int, actor: str,
                   now: datetime, data_dir: Path, confirm: str | None = None
                   ) -> ErasureReport:
    """Erase the person behind ``customer_id``. ``confirm``, when given, must equal
    their e-mail (or their id when they have none): the console's confirmation step."""
    with sessions() as session:
        who = identity(session, customer_id)
    if who is None:
        raise ErasureError(f"customer: no customer {customer_id}")
    if confirm is not None and confirm.strip().lower() not in {
            *who.emails, str(customer_id)}:
        raise ErasureError("confirm: type the customer's e-mail (or id) to confirm")
    report = ErasureReport(who.customer_ids)
    with transaction(sessions) as session:
        _anonymise(session, who, report)
        _sweep(session, who, report)
        audit.record(session, actor=actor, action="customer.erase",
                     target=f"customer:{customer_id}", now=now,
                     detail={"customer_ids": list(who.customer_ids),
                             "rows": dict(report.rows)})
    report.files_removed = _remove_files(data_dir, who)
    engine = sessions.kw["bind"]
    _compact(engine)
    return report


def _anonymise(session: Session, who: Identity, report: ErasureReport) -> None:
    ids = list(who.customer_ids)
    for c in session.exec(select(Customer).where(col(Customer.id).in_(ids))).all():
        c.email = c.phone = c.first_name = c.last_name = c.salutation = c.gender = None
        c.timezone = c.segment = c.preferred_channel = None
        c.push_subscriptions = []
        c.external_id = f"erased-{c.id}"
        session.add(c)
        report.rows["customers"] += 1
    cart_match: list[Any] = [col(Cart.customer_id).in_(ids)]
    if who.emails:
        cart_match.append(col(Cart.email).in_(who.emails))
    if who.phones:
        cart_match.append(col(Cart.phone).in_(who.phones))
    for cart in session.exec(select(Cart).where(sa.or_(*cart_match))).all():
        cart.email = cart.phone = cart.recovery_url = None
        session.add(cart)
        report.rows["carts"] += 1
    order_ids = select(Order.id).where(col(Order.customer_id).in_(ids))
    for s in session.exec(select(Shipment).where(col(Shipment.order_id).in_(order_ids))).all():
        s.tracking_number = s.tracking_url = None
        s.events = [{k: v for k, v in e.items() if k in ("status", "at", "time", "code")}
                    for e in s.events]
        session.add(s)
        report.rows["shipments"] += 1
    changed = session.execute(sa.update(Notification).where(
        col(Notification.customer_id).in_(ids)).values(recipient=None))
    report.rows["notifications"] += changed.rowcount or 0  # type: ignore[attr-defined]
    gone_push = session.execute(sa.delete(PushSubscriptionRow).where(
        col(PushSubscriptionRow.customer_id).in_(ids)))
    report.rows["push_subscriptions"] += gone_push.rowcount or 0  # type: ignore[attr-defined]
    addresses = [*who.emails, *who.phones]
    if addresses:
        gone = session.execute(sa.delete(Suppression).where(
            col(Suppression.address).in_(addresses)))
        report.rows["suppressions"] += gone.rowcount or 0  # type: ignore[attr-defined]
    needles = [n for n in (*who.emails, *who.phones) if n]
    if needles:
        hit = session.execute(sa.update(InboundEvent).where(sa.or_(
            *(col(InboundEvent.payload).ilike(f"%{n}%") for n in needles)))
            .values(payload=ERASED_PAYLOAD))
        report.rows["inbound_events"] += hit.rowcount or 0  # type: ignore[attr-defined]
    session.flush()


def _pattern(who: Identity) -> re.Pattern[str] | None:
    needles = who.needles
    if not needles:
        return None
    return re.compile("|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True)),
                      re.IGNORECASE)


def _scrub(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(ERASED, value)
    if isinstance(value, list):
        return [_scrub(v, pattern) for v in value]
    if isinstance(value, dict):
        return {_scrub(k, pattern): _scrub(v, pattern) for k, v in value.items()}
    return value


def _sweep(session: Session, who: Identity, report: ErasureReport) -> None:
    """Every text and JSON column of every table, for anything still naming the person."""
    pattern = _pattern(who)
    if pattern is None:
        return
    for table in SQLModel.metadata.sorted_tables:
        columns = [c for c in table.c if isinstance(c.type, sa.String | sa.Text | sa.JSON)]
        keys = list(table.primary_key.columns)
        if not columns or not keys:
            continue
        matches = [sa.cast(c, sa.Text).ilike(f"%{n}%") if isinstance(c.type, sa.JSON)
                   else c.ilike(f"%{n}%") for c in columns for n in who.needles]
        rows = session.execute(sa.select(*keys, *columns).where(sa.or_(*matches))).all()
        for row in rows:
            values = {c.name: _scrub(row._mapping[c], pattern) for c in columns}
            changed = {k: v for k, v in values.items() if v != row._mapping[table.c[k]]}
            if not changed:
                continue
            session.execute(sa.update(table).where(
                *(k == row._mapping[k] for k in keys)).values(**changed))
            report.rows[f"sweep:{table.name}"] += 1


def _remove_files(data_dir: Path, who: Identity) -> list[str]:
    needles = [n.lower().encode() for n in who.needles]
    if not needles or not data_dir.exists():
        return []
    removed = []
    for path in sorted(data_dir.rglob("*")):
        if not path.is_file() or path.name.endswith(SQLITE_FILES):
            continue
        try:
            content = path.read_bytes().lower()
        except OSError:
            continue
        if any(n in content for n in needles):
            path.unlink()
            removed.append(str(path.relative_to(data_dir)))
    return removed


def _compact(engine: Engine) -> None:
    """SQLite keeps deleted bytes in free pages and the WAL until they are reused."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.execute("VACUUM")
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
