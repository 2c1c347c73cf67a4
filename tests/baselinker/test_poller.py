"""The BaseLinker poller against the local fake API, on SQLite and PostgreSQL: journal
position stored with the data, crash safety, gap re-sync, tracking refresh, health."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from notifier.connectors.baselinker_poller import BaseLinkerPoller, build_baselinker_poller
from notifier.runtime import Runtime
from notifier.store.tables import InboundEvent, Order, Shipment
from tests.baselinker.conftest import T0, FakeTime, state, stored
from tests.fakes.baselinker import FakeBaseLinker, history, order, package, ts


def shop(bl: FakeBaseLinker) -> None:
    """An account with an order from five days ago still travelling (its journal events
    are gone) and one placed an hour ago."""
    old = T0 - timedelta(days=5)
    bl.add_order(order(1000, confirmed_at=old), journal=False)
    bl.add_package(1000, package(5000, status=11), [history(1, old), history(2, old +
                   timedelta(hours=3)), history(11, T0 - timedelta(hours=2))], journal=False)
    bl.add_order(order(1001, confirmed_at=T0 - timedelta(hours=1), payment_done=114))


def get(runtime: Runtime, table: type[Order] | type[Shipment], external_id: str):  # type: ignore[no-untyped-def]
    with runtime.sessions() as session:
        return session.exec(select(table).where(table.source == "baselinker",
                                                table.external_id == external_id)).one()


async def test_first_poll_reads_the_journal_and_recent_orders(
    runtime: Runtime, poller: BaseLinkerPoller, bl: FakeBaseLinker
) -> None:
    shop(bl)
    result = await poller.poll(T0)
    assert (result.outcome, result.gap, result.events, result.resync_pending) == (
        "ok", "first poll", 1, False)
    assert result.position == bl.next_log_id and result.resynced_orders == 2
    assert stored(runtime) == {"orders": 2, "shipments": 1, "events": 3,
                               "position": bl.next_log_id}
    since = T0 - timedelta(days=14)
    assert bl.calls("getOrders")[-1] == {"date_confirmed_from": ts(since),
                                         "get_unconfirmed_orders": False}
    row = state(runtime)
    assert (row.resync_from, row.last_resync_at, row.resync_reason) == (None, T0, "first poll")
    parcel = get(runtime, Shipment, "5000")
    assert (parcel.status, parcel.order_id) == ("in_transit", get(runtime, Order, "1000").id)


async def test_normal_poll_reads_only_what_changed(
    runtime: Runtime, poller: BaseLinkerPoller, bl: FakeBaseLinker
) -> None:
    shop(bl)
    await poller.poll(T0)
    bl.requests.clear()
    later = T0 + timedelta(minutes=5)
    bl.now = later
    bl.add_order(order(1002, confirmed_at=later))
    bl.add_package(1002, package(5002), [history(1, later)])
    bl.set_status(1001, 1052)  # "Wysłane", mapped to shipped by id

    result = await poller.poll(later)
    assert (result.outcome, result.gap, result.events) == ("ok", None, 3)
    assert (result.orders, result.shipments, result.rejected) == (2, 1, ())
    assert sorted(c["order_id"] for c in bl.calls("getOrders")) == [1001, 1002]
    assert all(c["get_unconfirmed_orders"] for c in bl.calls("getOrders"))
    assert [c["order_id"] for c in bl.calls("getOrderPackages")] == [1002]
    assert bl.calls("getJournalList")[0]["last_log_id"] == 7001
    assert stored(runtime) == {"orders": 3, "shipments": 2, "events": 4,
                               "position": bl.next_log_id}
    assert get(runtime, Order, "1001").status == "shipped"

    bl.requests.clear()
    quiet = await poller.poll(later + timedelta(minutes=1))
    assert (quiet.outcome, quiet.events, quiet.orders, quiet.requests) == ("ok", 0, 0, 1)
    assert state(runtime).journal_read_at == later + timedelta(minutes=1)


async def test_a_crash_before_commit_loses_and_doubles_nothing(
    runtime: Runtime, poller: BaseLinkerPoller, bl: FakeBaseLinker, fake_time: FakeTime
) -> None:
    shop(bl)
    await poller.poll(T0)
    before = stored(runtime)
    t1 = T0 + timedelta(minutes=5)
    bl.now = t1
    bl.add_order(order(1002, confirmed_at=t1))
    bl.add_package(1002, package(5002, status=2), [history(1, t1), history(2, t1)])

    def power_cut(session: Session) -> None:
        # Fires inside the poll's transaction, after the batch was applied.
        if session.exec(select(Order.id).where(Order.external_id == "1002")).first():
            raise RuntimeError("power cut before commit")

    event.listen(runtime.sessions, "before_commit", power_cut)
    try:
        crashed = await poller.poll(t1)
    finally:
        event.remove(runtime.sessions, "before_commit", power_cut)
    assert (crashed.outcome, crashed.error) == ("failed", "power cut before commit")
    assert stored(runtime) == before  # neither the data nor the position
    assert state(runtime).consecutive_failures == 1

    restarted = build_baselinker_poller(runtime, monotonic=fake_time.monotonic,
                                        sleep=fake_time.sleep)
    result = await restarted.poll(t1 + timedelta(minutes=1))
    assert (result.outcome, result.events, result.orders, result.shipments) == ("ok", 2, 1, 1)
    after = stored(runtime)
    assert after == {"orders": before["orders"] + 1, "shipments": before["shipments"] + 1,
                     "events": before["events"] + 2, "position": bl.next_log_id}
    again = await restarted.poll(t1 + timedelta(minutes=2))
    assert again.events == 0 and stored(runtime) == after
    assert state(runtime).consecutive_failures == 0
    await restarted.aclose()


@pytest.mark.parametrize("clue", ["last read long ago", "journal starts past position"])
async def test_a_gap_forces_a_resync_by_date(
    runtime: Runtime, poller: BaseLinkerPoller, bl: FakeBaseLinker, clue: str
) -> None:
    shop(bl)
    await poller.poll(T0)
    bl.requests.clear()
    # Offline for four days; the journal keeps three.
    day1, day3 = T0 + timedelta(days=1), T0 + timedelta(days=3, hours=12)
    bl.now = day1
    bl.add_order(order(1002, confirmed_at=day1))
    bl.add_package(1002, package(5002, status=2), [history(2, day1)])
    bl.now = day1 + timedelta(hours=2)
    bl.set_status(1001, 1053)  # "Anulowane": mapped by name; just inside the journal
    bl.now = day3
    bl.add_order(order(1003, confirmed_at=day3))
    back = T0 + timedelta(days=4, hours=1)
    bl.now = back
    if clue == "journal starts past position":
        with runtime.sessions() as session:  # e.g. a database restored without it
            row = state(runtime)
            row.journal_read_at = None
            session.add(row)
            session.commit()

    result = await poller.poll(back)
    assert result.outcome == "ok" and result.gap is not None
    assert ("longer ago than BaseLinker keeps it" in result.gap if clue == "last read long ago"
            else "after our position 7001" in result.gap)
    assert result.events == 2  # order 1002's events are gone from the journal
    assert result.resynced_orders == 4 and not result.resync_pending
    assert stored(runtime)["orders"] == 4
    assert get(runtime, Order, "1001").status == "cancelled"
    assert get(runtime, Order, "1002").status == "shipped"  # its parcel left
    assert get(runtime, Shipment, "5002").status == "in_transit"
    assert [c["date_confirmed_from"] for c in bl.calls("getOrders")
            if "date_confirmed_from" in c] == [ts(back - timedelta(days=14))]
    row = state(runtime)
    assert (row.resync_from, row.last_resync_at, row.resync_reason) == (None, back, result.gap)
    assert row.journal_position == bl.next_log_id


async def test_a_long_resync_pages_across_polls_without_losing_same_second_orders(
    runtime: Runtime, poller: BaseLinkerPoller, bl: FakeBaseLinker
) -> None:
    bl.orders_page = poller.fetcher.orders_page = 10  # BaseLinker's 100, scaled down
    base = T0 - timedelta(days=2)
    for n in range(23):
        # Orders 8..12 share one confirmation second, across the first page boundary.
        second = 8 if 8 <= n <= 12 else n
        bl.add_order(order(3000 + n, confirmed_at=base + timedelta(seconds=second)),
                     journal=False)
    bl.log(16, 3000)  # an edit: the journal is on
    poller.resync_pages_per_poll = 1
    first = await poller.poll(T0)
    assert (first.gap, first.resynced_orders, first.resync_pending) == ("first poll", 10, True)
    assert state(runtime).resync_from == base + timedelta(seconds=8)
    second = await poller.poll(T0 + timedelta(minutes=1))
    assert second.gap is None and second.resync_pending
    third = await poller.poll(T0 + timedelta(minutes=2))
    assert not third.resync_pending and state(runtime).last_resync_at == T0 + timedelta(minutes=2)
    assert stored(runtime)["orders"] == 23
    assert [first.outcome, second.outcome, third.outcome] == ["ok"] * 3


async def test_a_journal_never_enabled_is_reported_not_silently_empty(
    runtime: Runtime, poller: BaseLinkerPoller, bl: FakeBaseLinker
) -> None:
    bl.add_order(order(1001, confirmed_at=T0 - timedelta(hours=5)), journal=False)
    result = await poller.poll(T0)
    assert result.outcome == "failed" and result.resynced_orders == 1
    assert result.error is not None and result.error.startswith(
        "getJournalList: [JOURNAL_EMPTY] no journal events, yet order 1001 was placed")
    bl.log(18, 1001, 1051)  # support switched it on
    assert (await poller.poll(T0 + timedelta(minutes=5))).outcome == "ok"


async def test_parcels_travelling_get_their_history_refreshed(
    runtime: Runtime, poller: BaseLinkerPoller, bl: FakeBaseLinker
) -> None:
    shop(bl)
    await poller.poll(T0)
    bl.scan(5000, history(4, T0 + timedelta(minutes=20)))
    soon = await poller.poll(T0 + timedelta(minutes=30))
    assert soon.tracking_refreshed == 0  # refreshed at most hourly
    result = await poller.poll(T0 + timedelta(hours=1))
    assert result.tracking_refreshed == 1
    assert bl.calls("getCourierPackagesStatusHistory")[-1] == {"package_ids": [5000]}
    parcel = get(runtime, Shipment, "5000")
    assert (parcel.status, len(parcel.events)) == ("out_for_delivery", 4)
    bl.scan(5000, history(5, T0 + timedelta(hours=1, minutes=30)))
    await poller.poll(T0 + timedelta(hours=2, minutes=1))
    assert get(runtime, Shipment, "5000").status == "delivered"
    later = await poller.poll(T0 + timedelta(hours=4))
    assert later.tracking_refreshed == 0  # delivered: its story is over


async def test_deleted_order_and_package_stop_counting(
    runtime: Runtime, poller: BaseLinkerPoller, bl: FakeBaseLinker
) -> None:
    shop(bl)
    await poller.poll(T0)
    del bl.orders[1000]
    bl.log(4, 1000)
    bl.log(10, 1000, 5000)
    await poller.poll(T0 + timedelta(minutes=1))
    assert get(runtime, Order, "1000").status == "cancelled"
    assert get(runtime, Shipment, "5000").status == "pending"


async def test_an_unmappable_order_is_kept_raw_and_the_rest_goes_on(
    runtime: Runtime, poller: BaseLinkerPoller, bl: FakeBaseLinker
) -> None:
    shop(bl)
    await poller.poll(T0)
    bl.add_order(order(1002, confirmed_at=T0, currency="ZŁOTY"))
    bl.add_order(order(1003, confirmed_at=T0))
    result = await poller.poll(T0 + timedelta(minutes=1))
    assert result.outcome == "ok" and result.orders == 1
    assert result.rejected == ("order 1002: order.currency: Value error, currency must be an "
                               "ISO 4217 code such as PLN or EUR",)
    assert result.position == bl.next_log_id
    with runtime.sessions() as session:
        [raw] = session.exec(select(InboundEvent)).all()
    assert (raw.source, raw.topic, raw.outcome) == ("baselinker", "order", "rejected")
    assert '"order_id":1002' in raw.payload


async def test_rate_limit_answers_are_honoured(
    runtime: Runtime, poller: BaseLinkerPoller, bl: FakeBaseLinker, fake_time: FakeTime
) -> None:
    shop(bl)
    bl.script(FakeBaseLinker.error("ERROR_REQUESTS_LIMIT", "Query limit exceeded"))
    result = await poller.poll(T0)
    assert result.outcome == "ok" and 60.0 in fake_time.sleeps
    assert stored(runtime)["orders"] == 2


async def test_errors_back_off_and_make_the_connector_unhealthy(
    runtime: Runtime, poller: BaseLinkerPoller, bl: FakeBaseLinker
) -> None:
    bad = FakeBaseLinker.error("ERROR_BAD_TOKEN", "Invalid user token")
    bl.script(bad, bad, bad)
    moments = [T0, T0 + timedelta(seconds=10), T0 + timedelta(minutes=1),
               T0 + timedelta(minutes=2), T0 + timedelta(minutes=3)]
    outcomes = [(await poller.poll(m)).outcome for m in moments]
    # 1st fails; 10 s later: skipped; 2nd fails; waits 2 intervals; 3rd fails.
    assert outcomes == ["failed", "skipped", "failed", "skipped", "failed"]
    with runtime.sessions() as session:
        health = poller.health(session)
    assert health["healthy"] is False and health["consecutive_failures"] == 3
    assert health["last_error"] == "getJournalList: [ERROR_BAD_TOKEN] Invalid user token"
    assert health["retry_at"] == (T0 + timedelta(minutes=3, seconds=210)).isoformat()

    recovered = await poller.poll(T0 + timedelta(minutes=7))
    assert recovered.outcome == "ok"
    with runtime.sessions() as session:
        health = poller.health(session)
    assert (health["healthy"], health["consecutive_failures"], health["last_error"]) == (
        True, 0, None)


async def test_a_second_poller_that_moved_first_wins(
    runtime: Runtime, poller: BaseLinkerPoller, bl: FakeBaseLinker
) -> None:
    shop(bl)
    await poller.poll(T0)
    bl.add_order(order(1002, confirmed_at=T0))
    fetch = poller.fetcher.changes

    async def other_poller_commits_meanwhile(*args, **kwargs):  # type: ignore[no-untyped-def]
        batch = await fetch(*args, **kwargs)
        with runtime.sessions() as session:
            row = state(runtime)
            row.journal_position = bl.next_log_id
            session.add(row)
            session.commit()
        return batch

    poller.fetcher.changes = other_poller_commits_meanwhile  # type: ignore[method-assign]
    result = await poller.poll(T0 + timedelta(minutes=1))
    assert result.outcome == "skipped" and "position is now" in (result.error or "")
    assert stored(runtime)["orders"] == 2 and state(runtime).consecutive_failures == 0
