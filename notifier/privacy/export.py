"""Everything stored about one customer, as JSON (the GDPR/RODO access right).

Found by the schema, not by a list kept by hand: every table with a foreign key to
``customers``, then every table pointing at those rows (orders -> shipments,
notifications -> attempts, offers, escalations...), so a table added later is exported
without touching this module. Raw inbound payloads and suppressions are found by the
person's e-mail and phone.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from notifier.privacy.customers import identity
from notifier.store import audit

INBOUND_LIMIT = 1000


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _rows(session: Session, table: sa.Table, where: Any) -> list[dict[str, Any]]:
    result = session.execute(sa.select(table).where(where))
    return [{k: _plain(v) for k, v in row._mapping.items()} for row in result]


def linked_rows(session: Session, customer_ids: list[int]) -> dict[str, list[dict[str, Any]]]:
    """Rows of every table reachable from the customers by foreign keys (two hops)."""
    tables = SQLModel.metadata.tables
    customers = tables["customers"]
    found: dict[str, list[dict[str, Any]]] = {
        "customers": _rows(session, customers, customers.c.id.in_(customer_ids))}
    first_hop: dict[str, list[Any]] = {}
    for table in SQLModel.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table is customers and table.name != "customers":
                rows = _rows(session, table, fk.parent.in_(customer_ids))
                found.setdefault(table.name, []).extend(rows)
                if "id" in table.c:
                    first_hop[table.name] = [r["id"] for r in rows]
    for table in SQLModel.metadata.sorted_tables:
        for fk in table.foreign_keys:
            ids = first_hop.get(fk.column.table.name)
            if ids and fk.column.name == "id" and table.name not in ("customers",):
                seen = {json.dumps(r, sort_keys=True, default=str)
                        for r in found.get(table.name, [])}
                for row in _rows(session, table, fk.parent.in_(ids)):
                    key = json.dumps(row, sort_keys=True, default=str)
                    if key not in seen:
                        seen.add(key)
                        found.setdefault(table.name, []).append(row)
    return found


def export_customer(session: Session, customer_id: int) -> dict[str, Any] | None:
    """The whole record as plain data; None when there is no such customer."""
    who = identity(session, customer_id)
    if who is None:
        return None
    tables = SQLModel.metadata.tables
    data = linked_rows(session, list(who.customer_ids))
    addresses = [*who.emails, *who.phones]
    suppressions = tables["suppressions"]
    data["suppressions"] = _rows(session, suppressions, suppressions.c.address.in_(addresses))
    carts = tables["carts"]
    if who.emails or who.phones:
        known = {r["id"] for r in data.get("carts", [])}
        data.setdefault("carts", []).extend(
            r for r in _rows(session, carts, sa.or_(carts.c.email.in_(who.emails),
                                                     carts.c.phone.in_(who.phones)))
            if r["id"] not in known)
    inbound = tables["inbound_events"]
    needles = [n for n in (*who.emails, *who.phones) if n]
    if needles:
        stmt = (sa.select(inbound).where(sa.or_(*(inbound.c.payload.ilike(f"%{n}%")
                                                  for n in needles)))
                .order_by(inbound.c.id).limit(INBOUND_LIMIT))
        data["inbound_events"] = [{k: _plain(v) for k, v in row._mapping.items()}
                                  for row in session.execute(stmt)]
    return {"customer_ids": list(who.customer_ids), "emails": list(who.emails),
            "phones": list(who.phones), "tables": data}


def export_audited(session: Session, customer_id: int, *, actor: str, now: datetime
                   ) -> dict[str, Any] | None:
    """:func:`export_customer`, with an audit entry saying who took the copy."""
    data = export_customer(session, customer_id)
    if data is not None:
        audit.record(session, actor=actor, action="customer.export",
                     target=f"customer:{customer_id}", now=now)
    return data
