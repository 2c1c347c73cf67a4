"""Store, move and remove the Web Push subscriptions browsers hand us from the storefront.

A subscription belongs to the customer a signed token named, or waits anonymously under
its cart token until one does (the same browser subscribing again on a page that carries a
customer token, or its cart turning out to belong to a known customer). Linking writes the
subscription onto the customer's ``push_subscriptions`` (what dispatch reads) and records
the push consent the subscription stands for: ``transactional`` always, ``marketing``
only when the page asked for it; source ``push-subscribe <origin>``, time ``now``.

Removing or replacing a subscription needs its ``auth`` secret: only the browser that
holds the subscription (and we) know it, so nobody can unsubscribe someone else's device.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from notifier.store import consent_log
from notifier.store.db import transaction
from notifier.store.push_tables import PushSubscriptionRow
from notifier.store.tables import Cart, Consent, Customer


@dataclass(frozen=True)
class BrowserSubscription:
    """What ``PushSubscription.toJSON()`` gives, validated by the route."""

    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True)
class Subscriber:
    """Who subscribed: a customer (by external id in ``source``) and/or a cart token."""

    source: str
    external_id: str | None = None
    cart_token: str | None = None
    marketing: bool = False
    origin: str = ""
    user_agent: str | None = None


@dataclass(frozen=True)
class Stored:
    subscription_id: int
    customer_id: int | None
    created: bool


def endpoint_hash(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


def subscribe(factory: sessionmaker[Session], *, subscription: BrowserSubscription,
              subscriber: Subscriber, now: datetime) -> Stored:
    """Insert or update the subscription; link it to the customer when one is known."""
    try:
        return _subscribe(factory, subscription, subscriber, now)
    except IntegrityError:
        # The same browser posting twice at once: the second insert lost the race on
        # endpoint_hash and now finds the row as an update.
        return _subscribe(factory, subscription, subscriber, now)


def link_cart(session: Session, *, cart_tokens: set[str], customer_id: int,
              now: datetime) -> int:
    """A cart turned out to be a known customer's: its anonymous subscriptions become theirs
    (inside the caller's transaction, the ingest of that cart). Returns how many."""
    rows = session.exec(select(PushSubscriptionRow).where(
        col(PushSubscriptionRow.cart_token).in_(cart_tokens),
        col(PushSubscriptionRow.customer_id).is_(None))).all()
    for row in rows:
        _link(session, row, customer_id, row.source, now)
        session.add(row)
    return len(rows)


def unsubscribe(factory: sessionmaker[Session], *, endpoint: str, auth: str,
                now: datetime) -> bool:
    """Forget the subscription (the browser's ``unsubscribe()``); False if unknown."""
    with transaction(factory) as session:
        row = _owned(session, endpoint, auth)
        if row is None:
            return False
        if row.customer_id is not None:
            _unlink(session, row.customer_id, row.endpoint, now)
        session.delete(row)
    return True


def replace(factory: sessionmaker[Session], *, old_endpoint: str, old_auth: str,
            subscription: BrowserSubscription, origin: str, now: datetime) -> Stored | None:
    """``pushsubscriptionchange``: the browser's new subscription takes the old one's place
    (customer, cart, consent); None when the old one is unknown or the secret is wrong."""
    with transaction(factory) as session:
        old = _owned(session, old_endpoint, old_auth)
        if old is None:
            return None
        customer_id, cart, marketing = old.customer_id, old.cart_token, old.marketing
        if customer_id is not None:
            _unlink(session, customer_id, old.endpoint, now)
        session.delete(old)
        session.flush()
        row = _upsert_row(session, subscription, cart_token=cart, marketing=marketing,
                          origin=origin, user_agent=old.user_agent, now=now)
        created = row.id is None
        if customer_id is not None:
            _link(session, row, customer_id, origin, now)
        session.add(row)
        session.flush()
        return Stored(row.id or 0, row.customer_id, created)


def _subscribe(factory: sessionmaker[Session], subscription: BrowserSubscription,
               who: Subscriber, now: datetime) -> Stored:
    with transaction(factory) as session:
        row = _upsert_row(session, subscription, cart_token=who.cart_token,
                          marketing=who.marketing, origin=who.origin,
                          user_agent=who.user_agent, now=now)
        created = row.id is None
        customer_id = _customer_for(session, who, now)
        if row.customer_id is not None and row.customer_id != customer_id and customer_id:
            # Another customer signed in on this browser: the device is now theirs.
            _unlink(session, row.customer_id, row.endpoint, now)
            row.customer_id = None
        if customer_id is not None:
            _link(session, row, customer_id, who.origin, now)
        session.add(row)
        session.flush()
        return Stored(row.id or 0, row.customer_id, created)


def _upsert_row(session: Session, sub: BrowserSubscription, *, cart_token: str | None,
                marketing: bool, origin: str, user_agent: str | None,
                now: datetime) -> PushSubscriptionRow:
    digest = endpoint_hash(sub.endpoint)
    row = session.exec(select(PushSubscriptionRow)
                       .where(PushSubscriptionRow.endpoint_hash == digest)).first()
    if row is None:
        row = PushSubscriptionRow(endpoint_hash=digest, endpoint=sub.endpoint, p256dh=sub.p256dh,
                                  auth=sub.auth, source=origin[:255], created_at=now,
                                  updated_at=now)
    row.p256dh, row.auth, row.updated_at = sub.p256dh, sub.auth, now
    row.cart_token = cart_token or row.cart_token
    row.marketing = row.marketing or marketing  # asking again without marketing keeps it
    row.user_agent = (user_agent or row.user_agent or "")[:512] or None
    return row


def _customer_for(session: Session, who: Subscriber, now: datetime) -> int | None:
    if who.external_id:
        customer = session.exec(select(Customer).where(
            Customer.source == who.source, Customer.external_id == who.external_id)).first()
        if customer is None:
            # The platform's webhook may come later; it fills in this row (same key).
            customer = Customer(source=who.source, external_id=who.external_id,
                                created_at=now, updated_at=now)
            session.add(customer)
            session.flush()
        return customer.id
    if who.cart_token:
        # Our cart key, or the platform's cart token (Shopify: Cart.alias).
        cart = session.exec(select(Cart).where(
            sa.or_(Cart.external_id == who.cart_token, Cart.alias == who.cart_token),
            col(Cart.customer_id).is_not(None))).first()
        return cart.customer_id if cart else None
    return None


def _link(session: Session, row: PushSubscriptionRow, customer_id: int, origin: str,
          now: datetime) -> None:
    row.customer_id = customer_id
    customer = session.get(Customer, customer_id)
    if customer is None:
        return
    kept = [s for s in customer.push_subscriptions if s.get("endpoint") != row.endpoint]
    customer.push_subscriptions = [*kept, {"endpoint": row.endpoint, "p256dh": row.p256dh,
                                           "auth": row.auth}]
    customer.updated_at = now
    session.add(customer)
    source = f"push-subscribe {origin}"[:64]
    _grant(session, customer_id, "transactional", source, now)
    if row.marketing:
        _grant(session, customer_id, "marketing", source, now)


def _unlink(session: Session, customer_id: int, endpoint: str, now: datetime) -> None:
    customer = session.get(Customer, customer_id)
    if customer is None:
        return
    customer.push_subscriptions = [s for s in customer.push_subscriptions
                                   if s.get("endpoint") != endpoint]
    customer.updated_at = now
    session.add(customer)


def _grant(session: Session, customer_id: int, purpose: str, source: str,
           now: datetime) -> None:
    """Subscribing is the customer's own action, now: judged and logged like every word."""
    row = session.exec(select(Consent).where(
        Consent.customer_id == customer_id, Consent.channel == "push",
        Consent.purpose == purpose)).first()
    word = consent_log.Word("push", purpose, True, now, source)
    held = consent_log.Held(row.granted, row.at, row.source) if row is not None else None
    verdict = consent_log.judge(held, word)
    if verdict.log:
        consent_log.log_change(session, customer_id=customer_id, word=word, verdict=verdict,
                               now=now)
    if not verdict.apply:
        return
    if row is None:
        row = Consent(customer_id=customer_id, channel="push", purpose=purpose, granted=True,
                      at=now, source=source)
    row.granted, row.at, row.source = True, now, source
    session.add(row)


def _owned(session: Session, endpoint: str, auth: str) -> PushSubscriptionRow | None:
    row = session.exec(select(PushSubscriptionRow).where(
        PushSubscriptionRow.endpoint_hash == endpoint_hash(endpoint))).first()
    if row is None or not hmac.compare_digest(row.auth, auth):
        return None
    return row
