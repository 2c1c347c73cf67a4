"""Conversions: which notification an order is credited to, and which carts came back.

Derived from what ingest stored, by the track job, never at ingest time: each order
written since it was last looked at (``orders.tracked_at`` differs from ``updated_at``)
is processed once per version.

- **Offer redemption**: an order carrying a code we issued redeems that offer.
- **Last touch**: the order is credited to the customer's latest notification touched
  at most a window before it was placed (windows per channel, ``[track]
  attribution_hours``: email and push 5 days, SMS 24 hours). A sent message touches at
  ``sent_at``; a **held-out** one at its ``due_at`` (when it would have been sent), so
  the control group is measured exactly like the treated one. Intention to treat: a
  treated notification that was never sent (skipped, failed, held) touches at its
  ``due_at`` too, and one sent but bounced at its ``sent_at``, so a treated customer whose
  message did not arrive stays measured as the held-out customer is. Only customer
  messages (``kind = "message"``) touch. A notification keeps its first conversion.
  "After a click" is recorded when it was clicked before the order.
- **Recovered cart**: a cart whose first reminder (sent or held out) touched at most a
  window before an order of its customer; "through the recovery link" when the order
  carries the cart's token and a reminder of that cart was clicked before the order.

Cancelled and test orders convert nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from notifier.offers import redeem
from notifier.store.tables import Cart, Notification, Order

TOUCHED = ("sent", "delivered")
HELD_OUT = "held_out"
TREATED = "treated"
#: Not yet decided: such a row touches nobody until it is sent or ends.
OPEN = ("pending", "sending")


@dataclass(frozen=True)
class Windows:
    """Attribution window per channel; ``for_(n)`` the one of a notification."""

    hours: dict[str, float]

    def for_(self, n: Notification) -> timedelta:
        channel = n.channel or (n.channels[0] if n.channels else "email")
        return timedelta(hours=self.hours.get(channel, 0.0))

    @property
    def longest(self) -> timedelta:
        return timedelta(hours=max(self.hours.values(), default=0.0))


def touched_at(n: Notification) -> datetime | None:
    """When the notification reached (or, held out, would have reached) the customer."""
    if n.kind != "message":
        return None
    if n.status == HELD_OUT:
        return n.due_at
    if n.status in TOUCHED:
        return n.sent_at
    if n.arm == TREATED and n.status not in OPEN:
        return n.sent_at or n.due_at
    return None


def _inside(n: Notification, placed: datetime, windows: Windows) -> datetime | None:
    at = touched_at(n)
    if at is None or not (at <= placed <= at + windows.for_(n)):
        return None
    return at


def last_touch(candidates: list[Notification], placed: datetime,
               windows: Windows) -> Notification | None:
    """The latest notification whose window holds ``placed`` (ties: the later id)."""
    inside = [(at, n.id or 0, n) for n in candidates
              if (at := _inside(n, placed, windows)) is not None]
    return max(inside, key=lambda t: (t[0], t[1]))[2] if inside else None


def _touches(session: Session, customer_id: int, placed: datetime,
             windows: Windows) -> list[Notification]:
    since = placed - windows.longest
    sent = sa.and_(col(Notification.sent_at) >= since, col(Notification.sent_at) <= placed)
    due = sa.and_(col(Notification.due_at) >= since, col(Notification.due_at) <= placed)
    ended_treated = sa.and_(Notification.arm == TREATED, col(Notification.status).notin_(OPEN))
    return list(session.exec(select(Notification).where(
        Notification.customer_id == customer_id, Notification.kind == "message",
        sa.or_(sa.and_(sa.or_(col(Notification.status).in_(TOUCHED), ended_treated), sent),
               sa.and_(Notification.status == HELD_OUT, due),
               sa.and_(ended_treated, col(Notification.sent_at).is_(None), due)))))


def attribute(session: Session, order: Order, windows: Windows) -> Notification | None:
    """Credit ``order`` to its last touch; the notification credited, if any."""
    placed = order.placed_at or order.created_at
    if order.customer_id is None or order.id is None:
        return None
    already = session.exec(select(Notification).where(
        Notification.conversion_order == order.id)).first()
    if already is not None:  # a later version of the same order: credited already
        return None
    n = last_touch(_touches(session, order.customer_id, placed, windows), placed, windows)
    if n is None or n.converted_at is not None:
        return None
    n.converted_at, n.conversion_order = placed, order.id
    n.conversion_revenue, n.conversion_currency = order.total, order.currency
    n.converted_after_click = n.clicked_at is not None and n.clicked_at <= placed
    session.add(n)
    return n


def recover_carts(session: Session, order: Order, windows: Windows) -> list[Cart]:
    placed = order.placed_at or order.created_at
    linked = Cart.order_id == order.id
    mine = (sa.and_(Cart.customer_id == order.customer_id, col(Cart.order_id).is_(None))
            if order.customer_id is not None else sa.false())
    carts = session.exec(select(Cart).where(sa.or_(linked, mine),
                                            col(Cart.recovered_at).is_(None))).all()
    recovered = []
    for cart in carts:
        reminders = [n for n in session.exec(select(Notification).where(
            Notification.entity_kind == "cart", Notification.entity_id == cart.id)
            .order_by(col(Notification.step), col(Notification.id)))
            if touched_at(n) is not None]
        if not reminders or _inside(reminders[0], placed, windows) is None:
            continue
        cart.recovered_at, cart.recovered_notification_id = placed, reminders[0].id
        cart.recovered_order_id = order.id
        cart.recovered_via_link = cart.order_id == order.id and any(
            r.clicked_at is not None and r.clicked_at <= placed for r in reminders)
        session.add(cart)
        recovered.append(cart)
    return recovered


def pending_orders(session: Session, *, limit: int) -> list[Order]:
    return list(session.exec(select(Order).where(sa.or_(
        col(Order.tracked_at).is_(None), col(Order.tracked_at) != col(Order.updated_at)))
        .order_by(col(Order.updated_at), col(Order.id)).limit(limit)))


def track_orders(session: Session, *, now: datetime, windows: Windows,
                 limit: int = 500) -> Counter[str]:
    """Derive the outcomes of up to ``limit`` orders written since last time."""
    done: Counter[str] = Counter()
    for order in pending_orders(session, limit=limit):
        if order.discount_codes and order.id is not None:
            done["redeemed"] += len(redeem(session, order_id=order.id,
                                           codes=list(order.discount_codes),
                                           order_total=order.total, currency=order.currency,
                                           now=now))
        if not order.is_test and order.status != "cancelled":
            done["converted"] += attribute(session, order, windows) is not None
            done["recovered"] += len(recover_carts(session, order, windows))
        order.tracked_at = order.updated_at
        session.add(order)
        done["orders"] += 1
    return +done
