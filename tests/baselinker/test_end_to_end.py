"""A BaseLinker order whose parcel stops moving gets the shipped shipment-stalled message:
fake API -> poller -> store -> engine tick with a moved clock -> outbox."""

from __future__ import annotations

from datetime import timedelta

from notifier.clock import FrozenClock
from notifier.connectors.baselinker_poller import BaseLinkerPoller
from notifier.pipeline import build_engine
from notifier.runtime import Runtime
from tests.baselinker.conftest import T0
from tests.engine.conftest import notifications, outbox_files, tick
from tests.fakes.baselinker import FakeBaseLinker, history, order, package


async def test_parcel_without_scans_for_48_hours_gets_the_stalled_message(
    runtime: Runtime, poller: BaseLinkerPoller, bl: FakeBaseLinker, clock: FrozenClock
) -> None:
    placed = T0 - timedelta(hours=10)
    last_scan = T0 - timedelta(hours=2)
    bl.add_order(order(2001, confirmed_at=placed, email="Ewa.Nowak@example.pl",
                       delivery_fullname="Ewa Nowak", payment_done=114))
    bl.add_package(2001, package(6001, status=11), [
        history(1, placed + timedelta(hours=1)), history(2, placed + timedelta(hours=3)),
        history(11, last_scan, "sortownia")])
    assert (await poller.poll(T0)).outcome == "ok"
    # The journal never reports scans; the hourly refresh finds none: the parcel stands still.
    refresh = await poller.poll(T0 + timedelta(hours=20))
    assert refresh.tracking_refreshed == 1 and refresh.shipments == 1

    engine = build_engine(runtime, owner="test-worker")
    try:
        due = last_scan + timedelta(hours=48)
        await tick(engine, clock, due - timedelta(seconds=1))
        assert notifications(runtime, rule="shipment-stalled") == []
        await tick(engine, clock, due)
        [stalled] = notifications(runtime, rule="shipment-stalled")
        assert (stalled.status, stalled.channel) == ("sent", "email")
        [eml] = outbox_files(runtime, "email")
        text = eml.read_text(encoding="utf-8")
        assert "ewa.nowak@example.pl" in text
        assert notifications(runtime, rule="order-unshipped") == []  # the parcel left
    finally:
        await engine.aclose()
