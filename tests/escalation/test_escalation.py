"""Escalations: the whole case gathered, handed to the helpdesk signed, and to support by email."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from notifier.escalation import (
    build_escalation,
    enqueue_escalation,
    is_repeat_incident,
    prior_incidents,
)
from notifier.escalation.handover import email_from_payload
from notifier.offers import OfferService
from notifier.store.db import transaction
from notifier.store.tables import Notification, Shipment
from tests.conftest import make_settings
from tests.fakes.webhook_sink import WebhookSink
from tests.offers.conftest import NOW, add_customer, add_notification, add_order, reserve
from tests.outbox import deliver, rows

SECRET = "helpdesk-secret"


def story(session: Session, service: OfferService) -> tuple[int, int, int, int]:
    """A customer whose order was late to ship, then whose parcel is late: the timeline."""
    customer = add_customer(session)
    order = add_order(session, customer_id=customer, total="249.00")
    shipment = Shipment(source="api", external_id="s-1", order_id=order, carrier="InPost",
                        tracking_number="6800123", status="in_transit",
                        tracking_url="https://inpost.pl/sledzenie?n=6800123")
    session.add(shipment)
    session.flush()
    add_notification(session, customer_id=customer, entity_id=order, key="u-email",
                     rule="order-unshipped", template="order_unshipped", status="sent",
                     sent=True, channel="email", at=NOW - timedelta(days=6))
    add_notification(session, customer_id=customer, entity_id=order, key="u-sms",
                     rule="order-unshipped", template="order_unshipped", status="skipped",
                     at=NOW - timedelta(days=6))
    late = add_notification(session, customer_id=customer, entity_id=shipment.id or 0,
                            entity_kind="shipment", key="late", days_late=4,
                            status="sent", sent=True, channel="sms",
                            at=NOW - timedelta(hours=1))
    reserve(service, session, notification_id=late, customer_id=customer, order_id=order,
            days_late=4)
    current = add_notification(session, customer_id=customer, entity_id=shipment.id or 0,
                               entity_kind="shipment", key="late-2", days_late=5)
    other = add_customer(session, n=2)  # someone else's messages stay out of the story
    add_notification(session, customer_id=other, entity_id=99, key="x", sent=True)
    return customer, order, shipment.id or 0, current


async def test_escalation_webhook_carries_the_case_signed(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    with WebhookSink(secret=SECRET) as sink:
        settings = make_settings(tmp_path, database={"url": db_url}, escalation={
            "webhook": {"url": sink.url, "secret": SECRET}, "email_to": "zespol@sklep.pl"})
        with transaction(sessions) as session:
            customer, _, shipment, current = story(session, OfferService(settings))
            notification = session.get(Notification, current)
            esc = build_escalation(session, notification=notification,  # type: ignore[arg-type]
                                   reason="second delay within 30 days", now=NOW)
            handover = enqueue_escalation(session, esc, settings, NOW)
            again = enqueue_escalation(session, esc, settings, NOW)
        assert await deliver(settings, NOW) == {"sent": 2}  # the webhook and the email
        assert await deliver(settings, NOW) == {}

    assert handover.created and None not in (handover.webhook_id, handover.email_id)
    assert (again.created, again.email_id, again.webhook_id) == (False, None, None)
    [webhook], [support] = rows(settings, "webhook"), rows(settings, "support")
    assert (webhook.id, webhook.status, webhook.template) == (
        handover.webhook_id, "sent", "escalation.created")
    assert (support.id, support.status, support.recipient) == (
        handover.email_id, "sent", "zespol@sklep.pl")
    (request,) = sink.requests
    assert request.headers["X-Notifier-Event"] == "escalation.created"
    assert sink.verified(now=NOW)
    event, data = sink.events()[0]
    assert event == "escalation.created"
    assert (data["rule"], data["days_late"], data["reason"]) == (
        "shipment-late", 5, "second delay within 30 days")
    assert data["customer"]["id"] == customer and data["customer"]["email"] == "c1@example.pl"
    assert "push_subscriptions" not in data["customer"]
    assert (data["order"]["number"], data["order"]["total"]) == ("1001", "249.0000")
    assert (data["shipment"]["id"], data["shipment"]["tracking_number"]) == (shipment,
                                                                             "6800123")
    timeline = [(e["rule"], e["channel"], e["status"]) for e in data["timeline"]]
    assert timeline == [("order-unshipped", "email", "sent"),
                        ("order-unshipped", None, "skipped"),
                        ("shipment-late", "sms", "sent"),
                        ("shipment-late", None, "sending")]
    assert data["timeline"][0]["at"] == (NOW - timedelta(days=6)).isoformat()
    assert data["timeline"][2]["offer_code"] == data["offers"][0]["code"]
    assert data["offers"][0]["status"] == "issued"
    assert data["prior_incidents"] == 1  # the order that shipped late; not this parcel

    email = email_from_payload(support.payload or "")
    assert email.to == "zespol@sklep.pl"
    assert email.subject == "Escalation: order 1001 (shipment-late, 5 day(s) late)"
    assert email.reply_to == "c1@example.pl"
    assert "second delay within 30 days" in email.text and "6800123" in email.text
    assert "order_unshipped" in email.text and data["offers"][0]["code"] in email.text
    assert "<td style='padding:2px 8px'>InPost 6800123 (in_transit)</td>" in email.html
    assert "2026-11-25 10:00" in email.text  # shown in the shop's timezone


async def test_without_a_webhook_only_the_email_goes(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    settings = make_settings(tmp_path, database={"url": db_url})
    with transaction(sessions) as session:
        *_, current = story(session, OfferService(settings))
        notification = session.get(Notification, current)
        esc = build_escalation(session, notification=notification,  # type: ignore[arg-type]
                               reason="limit reached", now=NOW, timeline_limit=2)
        handover = enqueue_escalation(session, esc, settings, NOW)
    assert handover.webhook_id is None and handover.email_id is not None
    assert rows(settings, "webhook") == []
    [support] = rows(settings, "support")
    assert email_from_payload(support.payload or "").to == "pomoc@example.com"
    assert [e.rule for e in esc.timeline] == ["shipment-late", "shipment-late"]  # newest 2


def test_second_incident_within_the_window(db_url: str,
                                           sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        customer = add_customer(session)
        first = dict(customer_id=customer, sent=True, status="sent")
        # One incident: two steps about order 1, 20 days ago. Marketing never counts.
        add_notification(session, entity_id=1, key="a", at=NOW - timedelta(days=20), **first)
        add_notification(session, entity_id=1, key="b", at=NOW - timedelta(days=19), **first)
        add_notification(session, entity_id=3, key="m", purpose="marketing",
                         entity_kind="cart", at=NOW - timedelta(days=1), **first)
        # Not sent, or too old: no incident.
        add_notification(session, customer_id=customer, entity_id=4, key="c",
                         at=NOW - timedelta(days=2), status="skipped")
        add_notification(session, entity_id=5, key="d", at=NOW - timedelta(days=31), **first)

        def repeat(exclude: tuple[str, int] | None, window: int = 30) -> bool:
            return is_repeat_incident(session, customer_id=customer, now=NOW,
                                      window=timedelta(days=window), exclude_entity=exclude)

        assert repeat(("shipment", 2))            # a new problem after order 1's
        assert not repeat(("order", 1))           # order 1's own later steps
        assert not repeat(("shipment", 2), window=7)
        assert not is_repeat_incident(session, customer_id=None, now=NOW,
                                      window=timedelta(days=30))
        assert prior_incidents(session, customer_id=customer, now=NOW,
                               window=timedelta(days=40)) == 2
