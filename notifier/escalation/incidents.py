"""Repeat trouble: how many problems a customer was told about recently.

An *incident* is one entity (an order, a shipment, a cart) about which a transactional
message was sent within the window; every step of every rule about the same entity is
the same incident. "The second incident within 30 days" is ``prior_incidents(...) >= 1``
with the current case's entity excluded, so its own earlier steps do not count. The
scan can load many customers at once with :func:`incident_entities` and expose the count
to rule conditions.

    if is_repeat_incident(session, customer_id=7, now=now, window=timedelta(days=30),
                          exclude_entity=("shipment", 42)): ...
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from notifier.domain import Purpose
from notifier.store.tables import Notification

Entity = tuple[str, int]


def incident_entities(session: Session, *, customer_ids: Iterable[int], now: datetime,
                      window: timedelta) -> dict[int, set[Entity]]:
    """For each customer, the entities of transactional messages sent in ``window``."""
    ids = sorted(set(customer_ids))
    out: dict[int, set[Entity]] = {i: set() for i in ids}
    if not ids:
        return out
    stmt = select(Notification.customer_id, Notification.entity_kind,
                  Notification.entity_id).distinct().where(
        col(Notification.customer_id).in_(ids),
        Notification.purpose == Purpose.TRANSACTIONAL.value,
        col(Notification.sent_at) > now - window,
        col(Notification.sent_at) <= now,
    )
    for customer_id, kind, entity_id in session.exec(stmt).all():
        out[customer_id].add((kind, entity_id))
    return out


def prior_incidents(session: Session, *, customer_id: int, now: datetime, window: timedelta,
                    exclude_entity: Entity | None = None) -> int:
    """Incidents of the customer in the window, the current case's entity excluded."""
    found = incident_entities(session, customer_ids=[customer_id], now=now, window=window)
    return len(found[customer_id] - ({exclude_entity} if exclude_entity else set()))


def is_repeat_incident(session: Session, *, customer_id: int | None, now: datetime,
                       window: timedelta, exclude_entity: Entity | None = None) -> bool:
    """Whether the current case is at least the second incident in the window."""
    if customer_id is None:
        return False
    return prior_incidents(session, customer_id=customer_id, now=now, window=window,
                           exclude_entity=exclude_entity) >= 1
