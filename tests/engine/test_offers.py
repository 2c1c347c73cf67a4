"""Compensation offers and escalation through the whole engine, with the shipped rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from babel.dates import format_date
from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.app import create_app
from notifier.authoring import publish, save_draft
from notifier.clock import FrozenClock
from notifier.config import Settings
from notifier.pipeline import Engine, build_engine
from notifier.runtime import Runtime, create_runtime
from notifier.store.db import transaction
from notifier.store.offer_tables import Offer
from tests.conftest import make_settings
from tests.engine.conftest import notifications, outbox_files, put, tick
from tests.fakes.webhook_sink import WebhookSink
from tests.ingest.conftest import load, shopify_headers

T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
DUE = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # ship-by 12:00 Warsaw + 4 h grace
ANNA = {"external_id": "c-anna", "email": "anna@example.pl", "first_name": "Anna",
        "salutation": "mrs", "locale": "pl", "timezone": "Europe/Warsaw"}
JANE = {"external_id": "c-jane", "email": "jane@example.com", "first_name": "Jane",
        "last_name": "Smith", "salutation": "ms", "locale": "en", "timezone": "Europe/London"}


def late_order(external_id: str, customer: dict[str, object], **extra: object) -> dict:
    return {"external_id": external_id, "currency": "PLN", "total": "249.00",
            "payment_status": "paid", "placed_at": T0.isoformat(),
            "ship_by": "2026-12-02T12:00:00+01:00", "deliver_by": "2026-12-04T12:00:00+01:00",
            "customer": customer, **extra}


def text_of(path: Path) -> str:
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    return message.get_body(preferencelist=("plain",)).get_content()


def offers(runtime: Runtime) -> list[Offer]:
    with runtime.sessions() as session:
        return list(session.exec(select(Offer)).all())


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink(secret="whsec") as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, db_url: str, sink: WebhookSink) -> Settings:
    return make_settings(
        tmp_path, database={"url": db_url},
        offers={"webhook": {"url": sink.url, "secret": "whsec"},
                "policies": {"pooled": {"tiers": [{"kind": "percent", "percent": 5}],
                                        "codes": "pool"}}},
        escalation={"webhook": {"url": sink.url, "secret": "whsec"},
                    "email_to": "obsluga@example.pl"})




async def test_late_order_email_carries_the_offer_in_polish_and_english(
    runtime: Runtime, engine: Engine, clock: FrozenClock
) -> None:
    put(runtime, "order", late_order("1001", ANNA), now=T0)
    put(runtime, "order", late_order("1002", JANE), now=T0)
    await tick(engine, clock, DUE)

    issued = {o.customer_id: o for o in offers(runtime)}
    assert len(issued) == 2
    by_to = {}
    for path in outbox_files(runtime, "email"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        by_to[message["To"]] = text_of(path)
    pl_offer = next(o for o in issued.values() if o.currency == "PLN" and
                    o.notification_id == notifications(runtime, rule="order-unshipped")[0].id)
    pl_text = by_to["anna@example.pl"]
    assert pl_offer.code in pl_text and "10%" in pl_text
    expiry_pl = pl_offer.expires_at.astimezone(UTC)
    assert format_date(expiry_pl.date(), "d MMMM", locale="pl") in pl_text
    assert pl_offer.value == Decimal(10) and pl_offer.kind == "percent"

    en_text = by_to["jane@example.com"]
    en_offer = next(o for o in issued.values() if o is not pl_offer)
    assert en_offer.code in en_text and "10%" in en_text
    assert format_date(en_offer.expires_at.date(), "MMMM d", locale="en") in en_text


async def test_amount_offer_reads_in_zloty(runtime: Runtime, tmp_path: Path, db_url: str,
                                           clock: FrozenClock) -> None:
    settings = make_settings(tmp_path, database={"url": db_url}, offers={"policies": {
        "delay-compensation": {"tiers": [{"kind": "amount", "amount": {"PLN": "20.00"}}]}}})
    rt = create_runtime(settings, clock=clock)
    engine = build_engine(rt)
    try:
        put(rt, "order", late_order("1001", ANNA), now=T0)
        await tick(engine, clock, DUE)
        [path] = outbox_files(rt, "email")
        assert "20,00\u00a0zł" in text_of(path)
    finally:
        await engine.aclose()
        rt.close()


async def test_second_delay_within_the_limit_goes_without_an_offer(
    runtime: Runtime, engine: Engine, clock: FrozenClock
) -> None:
    put(runtime, "order", late_order("1001", ANNA), now=T0)
    await tick(engine, clock, DUE)
    later = T0 + timedelta(days=7)
    put(runtime, "order", late_order("1003", ANNA, placed_at=later.isoformat(),
                                     ship_by="2026-12-09T12:00:00+01:00"), now=later)
    await tick(engine, clock, DUE + timedelta(days=7))
    first, second = notifications(runtime, rule="order-unshipped")
    assert first.status == second.status == "sent"
    assert len(offers(runtime)) == 1
    assert "limit" in second.reason  # sent, and the reason says why without an offer


async def test_empty_pool_alerts_and_the_message_still_goes(
    runtime: Runtime, engine: Engine, clock: FrozenClock, sink: WebhookSink, tmp_path: Path
) -> None:
    source = (Path(__file__).resolve().parents[2] / "rules" / "order-unshipped.toml")
    text = source.read_text(encoding="utf-8").replace('offer = "delay-compensation"',
                                                      'offer = "pooled"')
    with transaction(runtime.sessions) as session:
        draft = save_draft(session, "rule", "order-unshipped", {"order-unshipped.toml": text},
                           author="ops", now=T0)
        assert publish(session, runtime.settings, "rule", "order-unshipped", draft.id,
                       author="ops", now=T0) == []
    put(runtime, "order", late_order("1001", ANNA), now=T0)
    await tick(engine, clock, DUE)
    [n] = notifications(runtime)
    assert n.status == "sent" and "pool" in n.reason and "empty" in n.reason
    assert offers(runtime) == []
    assert "offer.pool_empty" in [event for event, _ in sink.events()]


async def test_redeemed_code_is_linked_to_the_order_with_its_revenue(
    runtime: Runtime, engine: Engine, clock: FrozenClock
) -> None:
    put(runtime, "order", late_order("1001", ANNA), now=T0)
    await tick(engine, clock, DUE)
    [offer] = offers(runtime)

    order = load("shopify_order.json")
    order["discount_codes"] = [{"code": offer.code.lower(), "amount": "40.00",
                                "type": "percentage"}]
    body = __import__("json").dumps(order).encode()
    client = TestClient(create_app(runtime))
    response = client.post("/webhooks/shopify", content=body,
                           headers=shopify_headers(body, "orders/create"))
    assert response.status_code == 200
    [offer] = offers(runtime)
    assert offer.status == "issued"  # ingest stores the order; the track stage redeems
    await engine.track(DUE + timedelta(days=1))
    [offer] = offers(runtime)
    assert offer.status == "redeemed" and offer.revenue == Decimal("413.99")
    assert offer.redeemed_order_id is not None


async def test_vip_parcel_late_three_days_is_escalated_with_the_whole_story(
    runtime: Runtime, engine: Engine, clock: FrozenClock, sink: WebhookSink
) -> None:
    vip = {**ANNA, "segment": "vip"}
    put(runtime, "order", late_order("1001", vip, shipped_at="2026-12-01T15:00:00Z",
                                     deliver_by="2026-12-03T22:59:59Z"), now=T0)
    scan = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    put(runtime, "shipment", {
        "external_id": "S-1", "order_external_id": "1001", "carrier": "InPost",
        "status": "in_transit", "shipped_at": "2026-12-01T15:00:00Z",
        "events": [{"at": scan.isoformat(), "status": "in_transit",
                    "eta": "2026-12-07T12:00:00Z"}]}, now=scan)
    moment = scan + timedelta(minutes=5)
    await tick(engine, clock, moment)

    [late] = notifications(runtime, rule="shipment-late")
    assert late.status == "sent" and late.days_late >= 3
    escalations = [data for event, data in sink.events() if event == "escalation.created"]
    assert len(escalations) == 1
    case = escalations[0]
    assert case["customer"]["email"] == "anna@example.pl"
    assert case["order"]["external_id"] == "1001"
    assert any(item["template"] == "shipment_late" for item in case["timeline"])
    assert sink.verified(now=moment)
    support = [p for p in outbox_files(runtime, "email")
               if message_from_bytes(p.read_bytes())["To"] == "obsluga@example.pl"]
    assert len(support) == 1

    await tick(engine, clock, moment + timedelta(hours=1))  # no second hand-over
    assert [e for e, _ in sink.events()].count("escalation.created") == 1
