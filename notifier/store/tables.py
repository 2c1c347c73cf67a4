"""The database tables. One row type per thing the engine remembers.

Inbound records are keyed by ``(source, external_id)``: the same order arriving from
Shopify and from our API are different rows, and an upsert finds its row by that pair.
``source_updated_at`` is the platform's own modification time; an older snapshot never
overwrites a newer one. ``next_check_at`` is when detection must look at a row again
(indexed): detection scans what is due instead of everything stored.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from notifier.store.types import UTCDateTime, utcnow

Money = sa.Numeric(16, 4)


def _ts(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_type=sa.JSON, nullable=False)


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    __table_args__ = (sa.UniqueConstraint("source", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    external_id: str = Field(max_length=128)
    email: str | None = Field(default=None, max_length=320, index=True)
    phone: str | None = Field(default=None, max_length=20, description="E.164")
    first_name: str | None = Field(default=None, max_length=128)
    last_name: str | None = Field(default=None, max_length=128)
    salutation: str | None = Field(default=None, max_length=16, description="mr, mrs, ms")
    gender: str | None = Field(default=None, max_length=16, description="female, male")
    locale: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(default=None, max_length=64)
    segment: str | None = Field(default=None, max_length=64)
    preferred_channel: str | None = Field(default=None, max_length=16)
    push_subscriptions: list[dict[str, Any]] = _json(list)
    source_updated_at: datetime | None = _ts()
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Consent(SQLModel, table=True):
    """The customer's latest word on one channel and purpose, with when and where it came."""

    __tablename__ = "consents"
    __table_args__ = (sa.UniqueConstraint("customer_id", "channel", "purpose"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", ondelete="CASCADE")
    channel: str = Field(max_length=16)
    purpose: str = Field(max_length=16)
    granted: bool
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    source: str = Field(max_length=64)


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (sa.UniqueConstraint("source", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    external_id: str = Field(max_length=128)
    number: str | None = Field(default=None, max_length=64)
    customer_id: int | None = Field(
        default=None, foreign_key="customers.id", index=True, ondelete="SET NULL"
    )
    status: str = Field(max_length=16, description="pending, confirmed, shipped, delivered, ...")
    payment_status: str = Field(default="pending", max_length=16)
    payment_method: str | None = Field(default=None, max_length=64)
    is_test: bool = False
    currency: str = Field(max_length=3)
    total: Decimal = Field(default=Decimal(0), sa_type=Money)
    subtotal: Decimal | None = Field(default=None, sa_type=Money)
    shipping_total: Decimal | None = Field(default=None, sa_type=Money)
    items: list[dict[str, Any]] = _json(list)
    discount_codes: list[str] = _json(list)
    shipping_method: str | None = Field(default=None, max_length=128)
    locale: str | None = Field(default=None, max_length=16)
    ship_country: str | None = Field(default=None, max_length=2, description="ISO 3166-1")
    ship_postcode: str | None = Field(default=None, max_length=16)
    placed_at: datetime | None = _ts()
    ship_by: datetime | None = _ts()
    deliver_by: datetime | None = _ts()
    cancelled_at: datetime | None = _ts()
    shipped_at: datetime | None = _ts()
    delivered_at: datetime | None = _ts()
    next_check_at: datetime | None = _ts(index=True)
    source_updated_at: datetime | None = _ts()
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # When the track stage last derived this order's outcomes (attribution, redemption,
    # recovered cart); ``NULL`` or older than ``updated_at`` means "look again" (#13).
    tracked_at: datetime | None = _ts(index=True)


class Shipment(SQLModel, table=True):
    __tablename__ = "shipments"
    __table_args__ = (sa.UniqueConstraint("source", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    external_id: str = Field(max_length=128)
    order_id: int | None = Field(
        default=None, foreign_key="orders.id", index=True, ondelete="CASCADE"
    )
    carrier: str | None = Field(default=None, max_length=64)
    tracking_number: str | None = Field(default=None, max_length=128)
    tracking_url: str | None = Field(default=None, max_length=1024)
    status: str = Field(default="pending", max_length=24)
    eta: datetime | None = _ts()
    shipped_at: datetime | None = _ts()
    delivered_at: datetime | None = _ts()
    last_event_at: datetime | None = _ts()
    events: list[dict[str, Any]] = _json(list)
    next_check_at: datetime | None = _ts(index=True)
    source_updated_at: datetime | None = _ts()
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Cart(SQLModel, table=True):
    __tablename__ = "carts"
    __table_args__ = (sa.UniqueConstraint("source", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    external_id: str = Field(max_length=128)
    customer_id: int | None = Field(
        default=None, foreign_key="customers.id", index=True, ondelete="SET NULL"
    )
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=20)
    currency: str = Field(max_length=3)
    value: Decimal = Field(default=Decimal(0), sa_type=Money)
    items: list[dict[str, Any]] = _json(list)
    recovery_url: str | None = Field(default=None, max_length=2048)
    locale: str | None = Field(default=None, max_length=16)
    last_activity_at: datetime | None = _ts()
    completed_at: datetime | None = _ts()
    deleted_at: datetime | None = _ts()
    order_external_id: str | None = Field(default=None, max_length=128)
    order_id: int | None = Field(default=None, foreign_key="orders.id", ondelete="SET NULL")
    # Another id the source knows the cart by (Shopify's ``cart_token``): a checkouts/delete
    # names the checkout only by it and its ``id``, never by the ``token`` we key carts by.
    alias: str | None = Field(default=None, max_length=128, index=True)
    # A cart recovered within the attribution window of its first reminder (sent or held
    # out): ``recovered_notification_id`` is that reminder, ``recovered_order_id`` the
    # order that brought it back (the cart's own or another of the customer's);
    # ``recovered_via_link`` when the
    # order carries the cart's token after a click on the recovery link (#13).
    recovered_at: datetime | None = _ts()
    recovered_notification_id: int | None = Field(
        default=None, foreign_key="notifications.id", ondelete="SET NULL")
    recovered_via_link: bool = False
    recovered_order_id: int | None = Field(default=None, foreign_key="orders.id",
                                           ondelete="SET NULL")
    next_check_at: datetime | None = _ts(index=True)
    source_updated_at: datetime | None = _ts()
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class InboundEvent(SQLModel, table=True):
    """Every payload that reached us, kept raw with what became of it.

    ``dedupe_key`` is unique: a redelivered webhook finds its first copy and changes
    nothing. ``outcome`` is ``applied``, ``stale`` (older than what we hold),
    ``ignored`` (a topic we do not use) or ``rejected`` (``error`` says why).
    """

    __tablename__ = "inbound_events"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    topic: str = Field(max_length=64)
    dedupe_key: str | None = Field(default=None, max_length=255, unique=True)
    payload: str = Field(sa_type=sa.Text)
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    outcome: str = Field(max_length=16)
    error: str | None = Field(default=None, sa_type=sa.Text)


class Notification(SQLModel, table=True):
    """One notification: a rule's step for one entity. The outbox row.

    ``key`` (rule, step, entity, episode) is unique: however many ticks or workers see the
    same occurrence of a case, the database lets exactly one of them create it; a new
    occurrence (episode, see ``detect/episodes.py``) has a key of its own. Rows are
    written before any provider is called; a dispatcher takes one with a lease
    (``lease_until``) so a crashed worker's claims expire and are taken again.

    ``status``: ``pending`` (waiting for ``due_at``), ``sending`` (leased), ``sent``,
    ``delivered``, ``undelivered``, ``failed`` (permanent or out of retries),
    ``skipped`` (never sent: ``reason`` says why), ``held_out`` (control group),
    ``dry_run`` (rule in dry-run mode), ``held`` (the outcome of a send is unknown and
    ``delivery.on_unknown = "hold"``), ``cancelled`` (withdrawn before sending).
    ``reason`` always says why a notification is not (yet) sent: "quiet hours until ...",
    "no consent for marketing sms", ...
    """

    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index("ix_notifications_status_due", "status", "due_at"),
        sa.Index("ix_notifications_customer_sent", "customer_id", "purpose", "sent_at"),
        sa.Index("ix_notifications_rule_detected", "rule", "detected_at"),  # reports (#14)
        # Reports (#14): a rule's converted rows. Partial, like the provider's id (set once
        # sent, looked up by value): a new notification enters neither (#17).
        sa.Index("ix_notifications_rule_converted", "rule", "converted_at",
                 sqlite_where=sa.text("converted_at IS NOT NULL"),
                 postgresql_where=sa.text("converted_at IS NOT NULL")),
        sa.Index("ix_notifications_provider_id", "provider_id",
                 sqlite_where=sa.text("provider_id IS NOT NULL"),
                 postgresql_where=sa.text("provider_id IS NOT NULL")),
        # The console's dashboard and funnels count a period by rule, status and channel
        # from this index alone (no table reads).
        sa.Index("ix_notifications_detected", "detected_at", "rule", "status", "channel"),
        # Partial: only skipped rows (their reasons) and rows with an outcome, so the
        # funnels read a period's reasons and clicks/conversions without table reads.
        sa.Index("ix_notifications_skipped", "detected_at", "rule", "reason",
                 sqlite_where=sa.text("status = 'skipped'"),
                 postgresql_where=sa.text("status = 'skipped'")),
        sa.Index("ix_notifications_outcomes", "detected_at", "rule", "status", "clicked_at",
                 "converted_at", "conversion_revenue",
                 sqlite_where=sa.text("clicked_at IS NOT NULL OR converted_at IS NOT NULL"),
                 postgresql_where=sa.text(
                     "clicked_at IS NOT NULL OR converted_at IS NOT NULL")),
        # Reports (#14): a period's converted rows without table reads (the bootstrap needs
        # each buyer's revenue), and a customerless row's earlier rows in its rule.
        sa.Index("ix_notifications_converted_rows", "rule", "detected_at", "kind", "arm",
                 "customer_id", "entity_id", "conversion_revenue", "conversion_currency",
                 sqlite_where=sa.text("converted_at IS NOT NULL"),
                 postgresql_where=sa.text("converted_at IS NOT NULL")),
        sa.Index("ix_notifications_anonymous", "rule", "entity_id", "detected_at",
                 sqlite_where=sa.text("customer_id IS NULL"),
                 postgresql_where=sa.text("customer_id IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, unique=True)
    # Looked up through ix_notifications_rule_detected (rule leads it).
    rule: str = Field(max_length=128)
    step: int
    entity_kind: str = Field(max_length=16)
    entity_id: int
    customer_id: int | None = Field(default=None, foreign_key="customers.id",
                                    ondelete="SET NULL")
    template: str = Field(max_length=128)
    purpose: str = Field(max_length=16)
    channels: list[str] = _json(list)
    channel: str | None = Field(default=None, max_length=16)
    recipient: str | None = Field(default=None, max_length=1024)
    status: str = Field(max_length=16)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    due_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    attempts: int = 0
    lease_until: datetime | None = _ts()
    lease_owner: str | None = Field(default=None, max_length=64)
    provider_id: str | None = Field(default=None, max_length=128)
    detected_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    sent_at: datetime | None = _ts()
    delivered_at: datetime | None = _ts()
    days_late: int = 0
    # Outcomes (the track stage, #13). ``clicked_at`` is the first counted click (scanners
    # flagged in ``link_clicks`` are not counted); ``opened_at`` is information only, never
    # attribution (Apple Mail Privacy Protection prefetches pixels). ``converted_at``,
    # ``conversion_order`` (orders.id) and ``conversion_revenue`` come from last-touch
    # attribution, held-out rows measured from their ``due_at``; ``rating`` is the survey
    # score given through this message (``survey`` says which question it asked).
    bounced_at: datetime | None = _ts()
    bounce_kind: str | None = Field(default=None, max_length=8, description="hard, soft")
    complained_at: datetime | None = _ts()
    unsubscribed_at: datetime | None = _ts()
    deferred_at: datetime | None = _ts()
    opened_at: datetime | None = _ts()
    clicked_at: datetime | None = _ts()
    clicks: int = 0
    converted_at: datetime | None = _ts()
    conversion_order: int | None = Field(default=None, foreign_key="orders.id",
                                         ondelete="SET NULL")
    conversion_revenue: Decimal | None = Field(default=None, sa_type=Money)
    conversion_currency: str | None = Field(default=None, max_length=3)
    converted_after_click: bool = False
    survey: str | None = Field(default=None, max_length=8, description="csat, nps")
    rating: int | None = None
    # The customer's group when this row was created (#14): ``treated``, ``holdout`` or
    # ``excluded`` (outside the rollout); empty on rows written before any step was due
    # (superseded or stale steps), which belong to neither arm. Reports read it.
    arm: str | None = Field(default=None, max_length=8)
    # One outbox for everything that leaves the process (#12): ``kind`` is ``message`` (a
    # rule's step to a customer), ``support`` (an escalation email), ``webhook`` or
    # ``shopify`` (calls made for the shop); those carry what to send in ``payload``
    # (JSON), ``recipient`` names the receiver, ``channels`` the one channel.
    kind: str = Field(default="message", max_length=16,
                      sa_column_kwargs={"server_default": "message"})
    payload: str | None = Field(default=None, sa_type=sa.Text)


class DeliveryAttempt(SQLModel, table=True):
    """Every call to a provider, written as ``sending`` before the call and completed after:
    a crash mid-send leaves evidence."""

    __tablename__ = "delivery_attempts"

    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(foreign_key="notifications.id", index=True, ondelete="CASCADE")
    number: int
    channel: str = Field(max_length=16)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    finished_at: datetime | None = _ts()
    outcome: str = Field(max_length=16, description="sending, sent, retry, failed")
    provider_id: str | None = Field(default=None, max_length=128)
    error: str | None = Field(default=None, sa_type=sa.Text)
    duration_ms: int | None = None


class Suppression(SQLModel, table=True):
    """An address we must not write to again on a channel: hard bounce, STOP, dead push
    subscription, one-click unsubscribe. ``purpose`` empty means every purpose."""

    __tablename__ = "suppressions"
    __table_args__ = (sa.UniqueConstraint("channel", "address", "purpose"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=1024)
    purpose: str = Field(default="", max_length=16)
    reason: str = Field(max_length=255)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class Lock(SQLModel, table=True):
    """Leases on singleton work (the detection scan) so adding workers is always safe."""

    __tablename__ = "locks"

    name: str = Field(primary_key=True, max_length=64)
    owner: str = Field(max_length=64)
    until: datetime = Field(sa_type=UTCDateTime, nullable=False)
