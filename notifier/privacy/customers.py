"""Find a customer and tell their story: search and timeline.

    search(session, "anna@example.pl")   # by e-mail, phone, name or order number
    timeline(session, customer_id)       # newest first: orders, parcels, carts, messages...
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import phonenumbers
from sqlalchemy import or_
from sqlmodel import Session, col, select

from notifier.store.offer_tables import Offer
from notifier.store.tables import (
    Cart,
    Consent,
    Customer,
    Notification,
    Order,
    Shipment,
    Suppression,
)

SEARCH_LIMIT = 50


def _phone(text: str, region: str) -> str | None:
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def search(session: Session, query: str, *, region: str = "PL",
           limit: int = SEARCH_LIMIT) -> list[Customer]:
    """Customers whose e-mail, phone, first or last name, or one of whose order numbers
    matches ``query`` (e-mail and names by prefix, case-insensitive)."""
    q = query.strip()
    if not q:
        return []
    like = f"{q.lower()}%"
    conditions: list[Any] = [
        col(Customer.email).ilike(like),
        col(Customer.first_name).ilike(like),
        col(Customer.last_name).ilike(like),
    ]
    if " " in q:
        first, _, last = q.partition(" ")
        conditions.append(col(Customer.first_name).ilike(first) &
                          col(Customer.last_name).ilike(f"{last.strip()}%"))
    phone = _phone(q, region) if any(ch.isdigit() for ch in q) else None
    if phone:
        conditions.append(Customer.phone == phone)
    by_order = select(Order.customer_id).where(
        or_(Order.number == q, Order.external_id == q))
    conditions.append(col(Customer.id).in_(by_order))
    stmt = select(Customer).where(or_(*conditions)).order_by(col(Customer.id).desc()).limit(limit)
    return list(session.exec(stmt).all())


@dataclass(frozen=True)
class Identity:
    """Everything that identifies one person across our tables: every customer row with
    the same e-mail or phone (one person arrives from several sources), and the strings
    to look for in raw payloads and files."""

    customer_ids: tuple[int, ...]
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def needles(self) -> tuple[str, ...]:
        """Strings whose presence marks a payload or a file as this person's."""
        national = tuple(p.removeprefix("+48") for p in self.phones if p.startswith("+48"))
        return tuple(dict.fromkeys(s for s in (*self.emails, *self.phones, *national,
                                               *self.names) if s and len(s) >= 5))


def identity(session: Session, customer_id: int) -> Identity | None:
    first = session.get(Customer, customer_id)
    if first is None:
        return None
    conditions: list[Any] = [col(Customer.id) == customer_id]
    if first.email:
        conditions.append(col(Customer.email).ilike(first.email))
    if first.phone:
        conditions.append(Customer.phone == first.phone)
    rows = list(session.exec(select(Customer).where(or_(*conditions))).all())
    emails = {r.email.lower() for r in rows if r.email}
    phones = {r.phone for r in rows if r.phone}
    carts = session.exec(select(Cart).where(
        col(Cart.customer_id).in_([r.id for r in rows]))).all()
    emails |= {c.email.lower() for c in carts if c.email}
    phones |= {c.phone for c in carts if c.phone}
    names = {" ".join(p for p in (r.first_name, r.last_name) if p) for r in rows}
    # Full names only: a bare surname is shared with other customers, whose rows the
    # erasure sweep must leave alone.
    return Identity(tuple(sorted(r.id for r in rows if r.id is not None)),
                    tuple(sorted(emails)), tuple(sorted(phones)),
                    tuple(sorted(n for n in names if n)))


@dataclass(frozen=True)
class TimelineEntry:
    """One moment of a customer's history. ``state`` is a fixed word the console
    translates (an order or message status, ``granted``/``withdrawn``, ``open``/
    ``completed``); ``detail`` is recorded data shown as stored."""

    at: datetime
    kind: str          # order, shipment, carrier, cart, message, offer, consent, suppression
    title: str
    state: str = ""
    detail: str = ""
    link: str | None = None


def _money(value: Decimal, currency: str) -> str:
    return f"{value.quantize(Decimal('0.01'))} {currency}"


def timeline(session: Session, customer_id: int, *, limit: int = 500) -> list[TimelineEntry]:
    """The customer's history, newest first."""
    who = identity(session, customer_id)
    if who is None:
        return []
    ids = list(who.customer_ids)
    out: list[TimelineEntry] = []
    orders = session.exec(select(Order).where(col(Order.customer_id).in_(ids))).all()
    for o in orders:
        out.append(TimelineEntry(o.placed_at or o.created_at, "order",
                                 f"#{o.number or o.external_id} · {_money(o.total, o.currency)}",
                                 o.status))
    order_ids = [o.id for o in orders]
    for s in session.exec(select(Shipment).where(col(Shipment.order_id).in_(order_ids))).all():
        out.append(TimelineEntry(s.shipped_at or s.created_at, "shipment",
                                 f"{s.carrier or '-'} {s.tracking_number or ''}".strip(),
                                 s.status))
        for event in s.events:
            at = _parse(event.get("at") or event.get("time"))
            if at is not None:
                out.append(TimelineEntry(at, "carrier", str(event.get("status", "")),
                                         detail=str(event.get("description") or
                                                    event.get("location") or "")))
    for c in session.exec(select(Cart).where(col(Cart.customer_id).in_(ids))).all():
        out.append(TimelineEntry(c.last_activity_at or c.created_at, "cart",
                                 _money(c.value, c.currency),
                                 "completed" if c.completed_at else "open"))
    for n in session.exec(select(Notification).where(
            col(Notification.customer_id).in_(ids))
            .order_by(col(Notification.id).desc()).limit(limit)).all():
        out.append(TimelineEntry(n.sent_at or n.detected_at, "message",
                                 f"{n.rule} #{n.step}", n.status, n.reason or "",
                                 link=f"deliveries/{n.id}"))
    for f in session.exec(select(Offer).where(col(Offer.customer_id).in_(ids))).all():
        out.append(TimelineEntry(f.redeemed_at or f.issued_at, "offer",
                                 f"{f.code} ({f.policy})", f.status))
    for k in session.exec(select(Consent).where(col(Consent.customer_id).in_(ids))).all():
        out.append(TimelineEntry(k.at, "consent", f"{k.channel} · {k.purpose}",
                                 "granted" if k.granted else "withdrawn", k.source))
    addresses = [*who.emails, *who.phones]
    for x in session.exec(select(Suppression).where(
            col(Suppression.address).in_(addresses))).all():
        out.append(TimelineEntry(x.at, "suppression", f"{x.channel} · {x.purpose or '*'}",
                                 detail=x.reason))
    out.sort(key=lambda e: e.at, reverse=True)
    return out[:limit]


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None
