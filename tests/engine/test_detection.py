"""Detection and dispatch through the shipped rules, with a moved clock, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from notifier.clock import FrozenClock
from notifier.detect.scan import default_lanes, scan
from notifier.pipeline import Engine
from notifier.runtime import Runtime
from notifier.store.tables import Order
from tests.engine.conftest import notifications, outbox_files, put, read_json, tick

T0 = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)  # Monday 10:15 in Warsaw
# Default service level: ship by the end of the next business day (Tue 23:59:59 Warsaw);
# the shipped order-unshipped rule waits 4 h of grace after that.
UNSHIPPED_DUE = datetime(2026, 12, 1, 22, 59, 59, tzinfo=UTC) + timedelta(hours=4)

ANNA = {"external_id": "c-anna", "email": "anna@example.pl", "first_name": "Anna",
        "salutation": "mrs", "locale": "pl", "timezone": "Europe/Warsaw"}


def order(**extra: object) -> dict[str, object]:
    return {"external_id": "1001", "currency": "PLN", "total": "249.00",
            "placed_at": T0.isoformat(), "payment_status": "paid", "status": "confirmed",
            "customer": ANNA, **extra}


async def test_order_unshipped_at_its_boundaries(runtime: Runtime, engine: Engine,
                                                 clock: FrozenClock) -> None:
    put(runtime, "order", order(), now=T0)
    await tick(engine, clock, UNSHIPPED_DUE - timedelta(seconds=1))
    assert notifications(runtime) == []

    result = await tick(engine, clock, UNSHIPPED_DUE)
    [n] = notifications(runtime)
    assert (n.rule, n.step, n.status, n.channel) == ("order-unshipped", 0, "sent", "email")
    assert result.dispatched["sent"] == 1
    [eml] = outbox_files(runtime, "email")
    assert "anna@example.pl" in eml.read_text(encoding="utf-8")

    await tick(engine, clock, UNSHIPPED_DUE + timedelta(hours=1))
    await tick(engine, clock, UNSHIPPED_DUE + timedelta(hours=1))  # the same moment twice
    assert len(notifications(runtime)) == 1
    assert len(outbox_files(runtime, "email")) == 1


async def test_shipped_or_test_or_unpaid_orders_are_left_alone(
    runtime: Runtime, engine: Engine, clock: FrozenClock
) -> None:
    put(runtime, "order", order(external_id="shipped", shipped_at=T0.isoformat()), now=T0)
    put(runtime, "order", order(external_id="test", is_test=True), now=T0)
    put(runtime, "order", order(external_id="unpaid", payment_status="pending"), now=T0)
    put(runtime, "order", order(external_id="cod", payment_status="pending",
                                payment_method="cod"), now=T0)
    await tick(engine, clock, UNSHIPPED_DUE + timedelta(minutes=5))
    assert [n.entity_id for n in notifications(runtime)] == [4]


async def test_sms_due_at_night_waits_for_morning(runtime: Runtime, engine: Engine,
                                                  clock: FrozenClock) -> None:
    # Due at 23:00 Warsaw time (22:00 UTC): ship-by 19:00 Warsaw plus the 4 h grace.
    phone_only = {"external_id": "c-tomasz", "phone": "+48600100200", "first_name": "Tomasz",
                  "locale": "pl", "timezone": "Europe/Warsaw"}
    put(runtime, "order", order(customer=phone_only,
                                ship_by="2026-12-02T19:00:00+01:00",
                                deliver_by="2026-12-04T19:00:00+01:00"), now=T0)
    await tick(engine, clock, datetime(2026, 12, 2, 22, 0, tzinfo=UTC))
    [n] = notifications(runtime)
    assert n.status == "pending" and n.channel is None
    assert n.reason == "quiet hours until 2026-12-03T08:00:00+01:00"
    assert outbox_files(runtime, "sms") == []

    await tick(engine, clock, datetime(2026, 12, 3, 6, 59, tzinfo=UTC))  # 07:59 Warsaw
    assert notifications(runtime)[0].status == "pending"
    await tick(engine, clock, datetime(2026, 12, 3, 7, 0, tzinfo=UTC))  # 08:00 Warsaw
    [n] = notifications(runtime)
    assert (n.status, n.channel, n.recipient) == ("sent", "sms", "+48600100200")
    [sms] = outbox_files(runtime, "sms")
    assert read_json(sms)["to"] == "+48600100200"


async def test_cancelled_order_stops_its_delay_message(runtime: Runtime, engine: Engine,
                                                       clock: FrozenClock) -> None:
    phone_only = {"external_id": "c-t", "phone": "+48600100200", "locale": "pl"}
    put(runtime, "order", order(customer=phone_only, ship_by="2026-12-02T19:00:00+01:00"),
        now=T0)
    await tick(engine, clock, datetime(2026, 12, 2, 22, 0, tzinfo=UTC))
    assert notifications(runtime)[0].status == "pending"  # waiting for the morning
    put(runtime, "order", order(customer=phone_only, status="cancelled",
                                cancelled_at="2026-12-03T06:00:00+00:00"),
        now=datetime(2026, 12, 3, 6, 0, tzinfo=UTC))
    await tick(engine, clock, datetime(2026, 12, 3, 7, 0, tzinfo=UTC))
    [n] = notifications(runtime)
    assert n.status == "skipped" and n.reason.startswith("reason gone before sending")
    assert outbox_files(runtime, "sms") == []


CART = {"external_id": "K-1", "currency": "PLN", "value": "98.00",
        "items": [{"name": "Kubek", "quantity": 2, "price": "49.00"}],
        "recovery_url": "https://sklep.example.pl/cart/K-1",
        "customer": {**ANNA, "consents": [{"channel": "email", "purpose": "marketing",
                                           "granted": True, "at": "2026-01-01T00:00:00Z"}]}}


async def test_recovered_cart_gets_no_second_reminder(runtime: Runtime, engine: Engine,
                                                      clock: FrozenClock) -> None:
    active = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    put(runtime, "cart", {**CART, "last_activity_at": active.isoformat()}, now=active)
    await tick(engine, clock, active + timedelta(minutes=59))
    assert notifications(runtime) == []
    await tick(engine, clock, active + timedelta(hours=1))
    [first] = notifications(runtime)
    assert (first.rule, first.step, first.status) == ("cart-abandoned", 0, "sent")

    bought = active + timedelta(hours=5)
    put(runtime, "order", order(external_id="2002", cart_external_id="K-1",
                                placed_at=bought.isoformat()), now=bought)
    await tick(engine, clock, active + timedelta(hours=24))
    await tick(engine, clock, active + timedelta(hours=30))
    assert [(n.step, n.status) for n in notifications(runtime, rule="cart-abandoned")] == [
        (0, "sent")]


async def test_abandoned_cart_sequence_sends_both_steps(runtime: Runtime, engine: Engine,
                                                         clock: FrozenClock) -> None:
    active = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    put(runtime, "cart", {**CART, "last_activity_at": active.isoformat()}, now=active)
    await tick(engine, clock, active + timedelta(hours=1))
    await tick(engine, clock, active + timedelta(hours=24) - timedelta(seconds=1))
    assert len(notifications(runtime)) == 1
    # Step 2 is due 24 h after the last activity, but the first reminder went out at
    # 10:00 and the marketing cap is one a day: it waits until 10:00 the next day.
    await tick(engine, clock, active + timedelta(hours=24, minutes=1))
    second = notifications(runtime)[1]
    assert second.status == "pending"
    assert second.reason == "frequency cap 1/24h until 2026-12-02T10:00:00+00:00"
    await tick(engine, clock, active + timedelta(hours=25))
    steps = [(n.step, n.status, n.template) for n in notifications(runtime)]
    assert steps == [(0, "sent", "cart_reminder"), (1, "sent", "cart_reminder_offer")]
    assert len(outbox_files(runtime, "email")) == 2


async def test_marketing_without_consent_is_skipped_with_reason(
    runtime: Runtime, engine: Engine, clock: FrozenClock
) -> None:
    active = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    put(runtime, "cart", {**CART, "customer": ANNA, "last_activity_at": active.isoformat()},
        now=active)
    await tick(engine, clock, active + timedelta(hours=1))
    [n] = notifications(runtime)
    assert n.status == "skipped"
    assert "email: no consent for marketing email" in n.reason
    assert "push: no contact point (push)" in n.reason


async def test_marketing_on_independence_day_is_deferred(runtime: Runtime, engine: Engine,
                                                         clock: FrozenClock) -> None:
    active = datetime(2026, 11, 11, 9, 0, tzinfo=UTC)  # 11 November, 10:00 in Warsaw
    put(runtime, "cart", {**CART, "last_activity_at": active.isoformat()}, now=active)
    await tick(engine, clock, active + timedelta(hours=1))
    [n] = notifications(runtime)
    assert n.status == "pending"
    assert n.reason == "public holiday, deferred until 2026-11-12T08:00:00+01:00"
    await tick(engine, clock, datetime(2026, 11, 12, 7, 0, tzinfo=UTC))
    assert notifications(runtime)[0].status == "sent"


async def test_late_parcel_warned_before_the_promise_breaks(
    runtime: Runtime, engine: Engine, clock: FrozenClock
) -> None:
    put(runtime, "order", order(ship_by="2026-12-01T22:59:59Z",
                                deliver_by="2026-12-03T22:59:59Z"), now=T0)
    scan_at = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    put(runtime, "shipment", {
        "external_id": "S-1", "order_external_id": "1001", "carrier": "InPost",
        "tracking_url": "https://inpost.pl/s?n=1", "status": "in_transit",
        "shipped_at": "2026-12-01T15:00:00Z",
        "events": [{"at": scan_at.isoformat(), "status": "in_transit",
                    "eta": "2026-12-05T12:00:00Z"}]}, now=scan_at)
    await tick(engine, clock, scan_at + timedelta(minutes=1))
    [n] = notifications(runtime, rule="shipment-late")
    assert n.status == "sent" and n.days_late == 2
    assert n.detected_at < datetime(2026, 12, 3, 22, 59, 59, tzinfo=UTC)


def test_lanes_take_disjoint_batches_and_claim_each_case_once(runtime: Runtime,
                                                              engine: Engine) -> None:
    """Three lanes over small batches (many short races for the same due rows): every
    due order is looked at once and claimed once, and each row's next check moves on."""
    for i in range(60):
        put(runtime, "order", order(external_id=f"o{i}",
                                    customer={**ANNA, "external_id": f"c{i}",
                                              "email": f"c{i}@example.pl"}), now=T0)
    at = UNSHIPPED_DUE + timedelta(minutes=5)
    found = scan(runtime.sessions, engine.rules(), at, batch_size=7, lanes=3)
    assert found.rows == 60
    assert sum(found.created.values()) == 60 == len(notifications(runtime))
    assert sorted(n.entity_id for n in notifications(runtime)) == list(range(1, 61))
    with runtime.sessions() as session:
        checks = session.exec(select(Order.next_check_at)).all()
    assert all(c is None or c > at for c in checks)
    assert scan(runtime.sessions, engine.rules(), at, lanes=3).rows == 0
    expected = 2 if runtime.engine.dialect.name == "postgresql" else 1
    assert default_lanes(runtime.sessions) == expected
