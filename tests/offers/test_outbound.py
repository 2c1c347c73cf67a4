"""Shop sync through the one outbox: signed webhooks with retries and backoff, Shopify
discounts, pool alerts, each an outbox row the dispatcher sends with attempts. Time moves
by passing ``now``; nothing sleeps."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from notifier.config import Settings
from notifier.offers import OfferService
from notifier.offers.pool import import_codes
from notifier.store.db import transaction
from notifier.store.tables import Notification
from tests.conftest import make_settings
from tests.fakes.http import Reply
from tests.fakes.shopify_admin import FakeShopifyAdmin
from tests.fakes.webhook_sink import WebhookSink
from tests.offers.conftest import NOW, add_customer, add_notification, add_order, reserve
from tests.outbox import attempts, deliver

SECRET = "whsec_test"


def settings_for(tmp_path: Path, db_url: str, *, delivery: dict[str, Any] | None = None,
                 **offers: Any) -> Settings:
    return make_settings(tmp_path, database={"url": db_url}, offers=offers,
                         delivery=delivery or {})


def deliveries(sessions: sessionmaker[Session]) -> list[Notification]:
    """The outbox rows of calls made for the shop (webhooks and Shopify Admin)."""
    with sessions() as session:
        return list(session.exec(select(Notification)
                                 .where(col(Notification.kind).in_(("webhook", "shopify")))
                                 .order_by(col(Notification.id))))


def issue(sessions: sessionmaker[Session], service: OfferService, *, key: str = "a",
          n: int = 1, **kwargs: Any) -> tuple[int, str]:
    with transaction(sessions) as session:
        customer = add_customer(session, n=n)
        order = add_order(session, customer_id=customer, n=n)
        note = add_notification(session, customer_id=customer, entity_id=order, key=key)
        result = reserve(service, session, notification_id=note, customer_id=customer,
                         order_id=order, **kwargs)
    assert result.offer is not None, result.reason
    return note, result.offer.code


async def test_offer_issued_webhook_is_signed_and_retried_with_backoff(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    with WebhookSink(secret=SECRET) as sink:
        settings = settings_for(tmp_path, db_url, webhook={"url": sink.url, "secret": SECRET},
                                delivery={"backoff_base_s": 60, "max_attempts": 3})
        _, code = issue(sessions, OfferService(settings), days_late=2)
        sink.script(Reply(503, "maintenance"))
        assert await deliver(settings, NOW) == {"retry": 1}
        (row,) = deliveries(sessions)
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.reason and row.reason.endswith("after http-503: HTTP 503: maintenance")
        # First retry after 60 s with 50-100 % jitter.
        assert NOW + timedelta(seconds=30) <= row.due_at <= NOW + timedelta(seconds=60)
        assert await deliver(settings, NOW + timedelta(seconds=29)) == {}
        retry_at = row.due_at
        assert await deliver(settings, retry_at) == {"sent": 1}
        assert await deliver(settings, retry_at + timedelta(days=1)) == {}

    assert len(sink.requests) == 2
    assert sink.verified(now=retry_at)
    request = sink.requests[-1]
    assert request.headers["X-Notifier-Event"] == "offer.issued"
    assert request.headers["X-Notifier-Delivery"] == str(row.id)
    assert request.headers["X-Notifier-Signature"].startswith(f"t={int(retry_at.timestamp())},")
    event, data = sink.events()[-1]
    assert event == "offer.issued"
    assert (data["code"], data["kind"], data["value"], data["policy"]) == (
        code, "percent", "10", "delay-compensation")
    assert data["estimated_cost"] == "20.00"
    (row,) = deliveries(sessions)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 2, retry_at)
    assert [(a.number, a.outcome) for a in attempts(settings, row.id or 0)] == [
        (1, "retry"), (2, "sent")]


async def test_retry_after_is_a_floor_and_4xx_or_exhaustion_fail(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    with WebhookSink(secret=SECRET) as sink:
        settings = settings_for(tmp_path, db_url, webhook={"url": sink.url, "secret": SECRET},
                                delivery={"backoff_base_s": 1, "max_attempts": 2})
        service = OfferService(settings)
        issue(sessions, service, key="a", n=1)
        issue(sessions, service, key="b", n=2)
        sink.script(Reply(429, "slow down", {"Retry-After": "600"}), Reply(410, "gone"))
        assert await deliver(settings, NOW) == {"retry": 1, "failed": 1}
        retried = next(r for r in deliveries(sessions) if r.status == "pending")
        assert retried.due_at >= NOW + timedelta(seconds=600)
        sink.script(Reply(500))
        assert await deliver(settings, NOW + timedelta(hours=1)) == {"failed": 1}
    assert sorted(r.reason or "" for r in deliveries(sessions)) == [
        "gave up after 2 attempts; last: http-500: HTTP 500: ",
        "permanent failure: http-410: HTTP 410: gone"]


async def test_shopify_receives_the_discount_for_each_generated_code(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    with FakeShopifyAdmin(access_token="shpat_test") as shop:
        settings = settings_for(tmp_path, db_url, shopify={
            "enabled": True, "access_token": "shpat_test", "api_base_url": shop.url,
            "api_version": "2025-10"}, policies={
            "fixed": {"tiers": [{"kind": "amount", "amount": {"PLN": "20.00"}}]}})
        service = OfferService(settings)
        _, percent = issue(sessions, service, key="a", n=1, days_late=3)
        _, shipping = issue(sessions, service, key="b", n=2, policy="cart-recovery",
                            total=None)
        _, amount = issue(sessions, service, key="c", n=3, policy="fixed")
        shop.discounts[amount] = {"mutation": "created by an earlier, lost response"}
        assert await deliver(settings, NOW) == {"sent": 3}

    assert shop.versions == ["2025-10"] * 3
    basic = shop.discounts[percent]
    assert basic["mutation"] == "discountCodeBasicCreate"
    assert basic["customerGets"] == {"value": {"percentage": 0.15}, "items": {"all": True}}
    assert (basic["usageLimit"], basic["appliesOncePerCustomer"]) == (1, True)
    assert basic["context"] == {"all": "ALL"}
    assert basic["endsAt"] == "2026-12-31T23:59:59+01:00"
    free = shop.discounts[shipping]
    assert free["mutation"] == "discountCodeFreeShippingCreate"
    assert free["destination"] == {"all": True} and shipping.startswith("WRACAM-")
    # "Code already taken" means an earlier attempt got through: delivered, not failed.
    assert {r.status for r in deliveries(sessions)} == {"sent"}


async def test_a_wrong_shopify_token_fails_permanently(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    with FakeShopifyAdmin(access_token="right") as shop:
        settings = settings_for(tmp_path, db_url, shopify={
            "enabled": True, "access_token": "wrong", "api_base_url": shop.url})
        issue(sessions, OfferService(settings))
        assert await deliver(settings, NOW) == {"failed": 1}
    assert shop.discounts == {}
    assert (deliveries(sessions)[0].reason or "").startswith("permanent failure: http-401")


async def test_void_withdraws_what_was_not_sent_and_reports_what_was(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    with WebhookSink(secret=SECRET) as sink, FakeShopifyAdmin(access_token="t") as shop:
        settings = settings_for(tmp_path, db_url, webhook={"url": sink.url, "secret": SECRET},
                                shopify={"enabled": True, "access_token": "t",
                                         "api_base_url": shop.url})
        service = OfferService(settings)
        queued, _ = issue(sessions, service, key="a", n=1)
        with transaction(sessions) as session:
            service.void(session, queued, "not sent", now=NOW)
        assert {r.status for r in deliveries(sessions)} == {"cancelled"}

        sent, code = issue(sessions, service, key="b", n=2)
        await deliver(settings, NOW)
        with transaction(sessions) as session:
            service.void(session, sent, "bounced", now=NOW)
        assert await deliver(settings, NOW) == {"sent": 1}
    assert [e for e, _ in sink.events()] == ["offer.issued", "offer.voided"]
    assert list(shop.discounts) == [code]  # a voided code that reached Shopify stays there
    assert (sink.events()[-1][1]["code"], sink.events()[-1][1]["status"]) == (code, "void")


async def test_an_empty_pool_alerts_and_the_reservation_says_why(
        tmp_path: Path, db_url: str, sessions: sessionmaker[Session]) -> None:
    with WebhookSink(secret=SECRET) as sink:
        settings = settings_for(tmp_path, db_url, webhook={"url": sink.url, "secret": SECRET},
                                policies={"pooled": {"tiers": [{"percent": 10}],
                                                     "codes": "pool", "pool_low_threshold": 1,
                                                     "on_exhausted": "escalate"}})
        service = OfferService(settings)
        with transaction(sessions) as session:
            import_codes(session, ["code\n", "shop-a\n", "shop-b\n"], default_pool="pooled",
                         known_pools={"pooled"}, now=NOW)
            notes = [add_notification(session, customer_id=None, entity_id=1, key=k)
                     for k in "abcd"]
            got = [reserve(service, session, notification_id=n, customer_id=None,
                           policy="pooled") for n in notes]
        await deliver(settings, NOW)

    assert [r.offer.code if r.offer else None for r in got] == ["SHOP-A", "SHOP-B", None, None]
    assert got[2].reason == ("offer pooled: code pool 'pooled' is empty "
                             "(notifier offers import-codes)")
    assert got[2].escalate and not got[0].escalate
    assert service.metrics.counts["pool_low:pooled"] == 1   # SHOP-B left one code
    assert service.metrics.counts["pool_empty:pooled"] == 3  # after SHOP-B, then twice dry
    assert service.metrics.pool_remaining == {"pooled": 0}
    events = [e for e, _ in sink.events()]
    # One alert of each kind per pool and day; pooled codes already exist in the shop.
    assert sorted(events) == ["offer.issued", "offer.issued", "offer.pool_empty",
                              "offer.pool_low"]
