"""Triggers: the situations a rule reacts to, each computing its *anchor* and *episode*.

The anchor is the moment the situation is (or, given what we know, will be) reached; a
rule's step delays count from it. The episode names which occurrence of the situation this
is (:mod:`~notifier.detect.episodes`): it joins the notification key, so a cart abandoned
again, a second failed delivery or a promise broken again starts the sequence again.

A trigger that does not apply returns no anchor and says why, and that is also how a
running sequence stops: once the cart is completed, the order shipped or cancelled, or the
parcel delivered, the trigger no longer applies.

Triggers are pure: they read a :class:`Facts` and a ``now`` and nothing else. ``now`` only
matters where the facts carry history (tracking events); with a history trimmed by
:func:`~notifier.detect.history.facts_as_of` the same code replays the past.

Each trigger names the ``entity`` table the scan walks and the snapshots it ``sees``, which
the scan loads alongside and which a rule's ``when`` condition may use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from notifier.config_types import Duration, parse_duration
from notifier.detect.statuses import (
    EXCEPTIONS,
    HANDED_OVER,
    MOVING,
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    ORDER_SHIPPED,
    PAID,
    OrderStatus,
    ShipmentStatus,
    is_cash_on_delivery,
    order_status,
    shipment_status,
)
from notifier.domain import Facts, OrderSnapshot, ShipmentSnapshot, TrackingEvent

# A module, not its names: transit.observe reads detect.statuses, so either package may
# be imported first.
from notifier.transit import observe as transit_observe

Entity = Literal["cart", "order", "shipment"]
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Check:
    """A trigger's answer: the ``anchor``, or None with the ``reason`` it does not apply.

    ``episode`` is the moment that identifies this occurrence — stable for as long as the
    same occurrence lasts (an anchor may move, e.g. when a carrier's ETA changes; the
    episode must not). None means the anchor is the episode.
    """

    anchor: datetime | None
    reason: str = ""
    episode: datetime | None = None

    @property
    def occurrence(self) -> datetime | None:
        """The episode to key notifications by (the anchor when none was given)."""
        return self.episode or self.anchor


_MISSES: dict[str, Check] = {}


def _miss(reason: str) -> Check:
    # Checks are frozen: one per reason is shared (most reasons are a handful of constants;
    # the cache stops growing at 1024 for reasons that quote a value).
    check = _MISSES.get(reason)
    if check is None:
        check = Check(None, reason)
        if len(_MISSES) < 1024:
            _MISSES[reason] = check
    return check


class Params(BaseModel):
    """Base of every trigger's ``[params]`` table: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


P = TypeVar("P", bound=Params)


class Trigger(ABC, Generic[P]):
    """One kind of situation. Subclasses set the class attributes and :meth:`check`."""

    name: ClassVar[str]
    entity: ClassVar[Entity]
    sees: ClassVar[frozenset[str]]
    params_model: ClassVar[type[Params]]
    #: A rule's ``max_delay`` when it sets none. None: "send while the reason holds" —
    #: for triggers whose reason is checked again before sending, so a late message is
    #: still true (an order still unshipped after an outage is still owed its apology).
    max_delay: ClassVar[timedelta | None] = _DAY

    def anchor(self, facts: Facts, params: P, now: datetime) -> datetime | None:
        """The anchor, or None when the trigger does not apply to ``facts``."""
        return self.check(facts, params, now).anchor

    def episode(self, facts: Facts, params: P, now: datetime) -> datetime | None:
        """Which occurrence applies (see :class:`Check`), or None when none does."""
        return self.check(facts, params, now).occurrence

    @abstractmethod
    def check(self, facts: Facts, params: P, now: datetime) -> Check:
        """The anchor, or why there is none."""


# --- shared readings of the snapshots ---------------------------------------------------


def _order_blocker(order: OrderSnapshot | None) -> str | None:
    """Test and cancelled orders never produce customer messages, whatever the trigger."""
    if order is None:
        return None
    if order.is_test:
        return "test order"
    if order.cancelled_at is not None or order_status(order.status) in ORDER_CANCELLED:
        return "order cancelled"
    return None


def _events_until(shipment: ShipmentSnapshot, now: datetime) -> list[TrackingEvent]:
    return sorted((e for e in shipment.events if e.at <= now), key=lambda e: e.at)


def _latest_event(shipment: ShipmentSnapshot, now: datetime) -> TrackingEvent | None:
    events = _events_until(shipment, now)
    return events[-1] if events else None


def _delivered_at(facts: Facts) -> datetime | None:
    shipment, order = facts.shipment, facts.order
    return (shipment.delivered_at if shipment else None) or (order.delivered_at if order else None)


def _parcel_blocker(facts: Facts, *, delivered: bool = False) -> str | None:
    """Why a parcel trigger has nothing to say: no parcel, a test or cancelled order, or
    (``delivered``) a parcel already delivered."""
    if facts.shipment is None:
        return "no shipment"
    if blocker := _order_blocker(facts.order):
        return blocker
    if delivered and _is_delivered(facts):
        return "parcel delivered"
    return None


def _is_delivered(facts: Facts) -> bool:
    shipment, order = facts.shipment, facts.order
    return (
        _delivered_at(facts) is not None
        or (shipment is not None and shipment_status(shipment.status) is ShipmentStatus.DELIVERED)
        or (order is not None and order_status(order.status) is OrderStatus.DELIVERED)
    )


def _is_shipped(order: OrderSnapshot, shipment: ShipmentSnapshot | None) -> bool:
    if order.shipped_at is not None or order_status(order.status) in ORDER_SHIPPED:
        return True
    return shipment is not None and (
        shipment.shipped_at is not None or shipment_status(shipment.status) in HANDED_OVER
    )


def days_late(facts: Facts, now: datetime) -> int:
    """Whole days (24-hour periods, rounded up) the delivery is past the promise; 0 if on time.

    Measured from the order's ``deliver_by`` to the delivery, or while the parcel travels,
    to the later of ``now`` and the carrier's ETA — so a warning sent before the promise
    breaks already says how late the parcel will be.
    """
    order, shipment = facts.order, facts.shipment
    promise = order.deliver_by if order else None
    if promise is None:
        return 0
    end = _delivered_at(facts)
    if end is None:
        eta = shipment.eta if shipment else None
        end = max(now, eta) if eta else now
    if end <= promise:
        return 0
    return -((promise - end) // _DAY)


# --- the triggers -----------------------------------------------------------------------


class CartAbandonedParams(Params):
    wait: Duration = timedelta(hours=1)


class CartAbandoned(Trigger[CartAbandonedParams]):
    """A cart nobody touched for ``wait``, that we can reach someone about."""

    name = "cart.abandoned"
    entity = "cart"
    sees = frozenset({"customer", "cart"})
    params_model = CartAbandonedParams
    max_delay = _DAY

    def check(self, facts: Facts, params: CartAbandonedParams, now: datetime) -> Check:
        cart, customer = facts.cart, facts.customer
        if cart is None:
            return _miss("no cart")
        if cart.completed_at is not None:
            return _miss("cart completed")
        # CartSnapshot does not carry deleted_at yet; until it does the scan skips them.
        if getattr(cart, "deleted_at", None) is not None:
            return _miss("cart deleted")
        if not cart.items and cart.value <= 0:
            return _miss("cart empty")
        reachable = (
            cart.email
            or cart.phone
            or (customer and (customer.email or customer.phone or customer.push_subscriptions))
        )
        if not reachable:
            return _miss("no contact point")
        if cart.last_activity_at is None:
            return _miss("no activity time")
        return Check(cart.last_activity_at + params.wait, "cart abandoned",
                     episode=cart.last_activity_at)


class OrderUnshippedParams(Params):
    grace: Duration = timedelta(0)


class OrderUnshipped(Trigger[OrderUnshippedParams]):
    """A confirmed, paid (or cash-on-delivery) order still not shipped ``grace`` after ship-by."""

    name = "order.unshipped"
    entity = "order"
    sees = frozenset({"customer", "order", "shipment"})
    params_model = OrderUnshippedParams
    max_delay = None

    def check(self, facts: Facts, params: OrderUnshippedParams, now: datetime) -> Check:
        order = facts.order
        if order is None:
            return _miss("no order")
        if blocker := _order_blocker(order):
            return _miss(blocker)
        if _is_shipped(order, facts.shipment):
            return _miss("order shipped")
        if order_status(order.status) not in ORDER_CONFIRMED:
            return _miss(f"order {order.status}, not confirmed")
        paid = order.payment_status.strip().lower() in PAID
        if not paid and not is_cash_on_delivery(order.payment_method):
            return _miss(f"payment {order.payment_status}")
        if order.ship_by is None:
            return _miss("no ship-by date")
        return Check(order.ship_by + params.grace, "order not shipped by ship-by",
                     episode=order.ship_by)


class ShipmentLateParams(Params):
    grace: Duration = timedelta(0)


class ShipmentLate(Trigger[ShipmentLateParams]):
    """A parcel past its promised delivery, or one the carrier already expects to be late.

    The promise is the order's ``deliver_by`` (+ ``grace``). The anchor is the promise when
    it passes, or — when the carrier's ETA is beyond it — the moment we learned that ETA,
    which warns the customer before the promise is broken; the earlier of the two wins.
    We take the ETA to have come with the latest tracking event at or before ``now`` (else
    ``last_event_at``, else the promise itself): tracking events carry no ETA of their own.
    """

    name = "shipment.late"
    entity = "shipment"
    sees = frozenset({"customer", "order", "shipment"})
    params_model = ShipmentLateParams
    max_delay = None

    def check(self, facts: Facts, params: ShipmentLateParams, now: datetime) -> Check:
        shipment, order = facts.shipment, facts.order
        if blocker := _parcel_blocker(facts, delivered=True):
            return _miss(blocker)
        assert shipment is not None
        status = shipment_status(shipment.status)
        if status in {ShipmentStatus.RETURNED_TO_SENDER, ShipmentStatus.LOST}:
            return _miss(f"parcel {status} (shipment.exception speaks for it)")
        promise = order.deliver_by if order else None
        if promise is None:
            return _miss("no promised delivery date")
        deadline = promise + params.grace
        if shipment.eta is None or shipment.eta <= deadline:
            return Check(deadline, "promised delivery date passed", episode=promise)
        event = _latest_event(shipment, now)
        learned = (event.at if event else None) or shipment.last_event_at or promise
        if learned < deadline:
            return Check(learned, "carrier ETA later than promised", episode=promise)
        return Check(deadline, "promised delivery date passed", episode=promise)


def _hours(value: object) -> timedelta:
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(hours=value)
    return value if isinstance(value, timedelta) else parse_duration(value)


class ShipmentStalledParams(Params):
    # A bare number means hours (the param's name says so); a string is any duration.
    hours: Annotated[timedelta, BeforeValidator(_hours)] = timedelta(hours=48)


class ShipmentStalled(Trigger[ShipmentStalledParams]):
    """A parcel on its way with no carrier scan for ``hours``."""

    name = "shipment.stalled"
    entity = "shipment"
    sees = frozenset({"customer", "order", "shipment"})
    params_model = ShipmentStalledParams
    max_delay = None

    def check(self, facts: Facts, params: ShipmentStalledParams, now: datetime) -> Check:
        shipment = facts.shipment
        if blocker := _parcel_blocker(facts):
            return _miss(blocker)
        assert shipment is not None
        status = shipment_status(shipment.status)
        if status not in MOVING:
            return _miss(f"parcel {shipment.status}, not moving")
        scans = [e.at for e in _events_until(shipment, now)]
        if shipment.last_event_at is not None:
            scans.append(shipment.last_event_at)
        last = max(scans) if scans else shipment.shipped_at
        if last is None:
            return _miss("no scan or ship time")
        return Check(last + params.hours, "no carrier scan", episode=last)


class ShipmentExceptionParams(Params):
    kinds: tuple[ShipmentStatus, ...] = tuple(sorted(EXCEPTIONS))

    @field_validator("kinds")
    @classmethod
    def _only_exceptions(cls, kinds: tuple[ShipmentStatus, ...]) -> tuple[ShipmentStatus, ...]:
        if not kinds:
            raise ValueError("name at least one kind")
        if wrong := [k.value for k in kinds if k not in EXCEPTIONS]:
            allowed = ", ".join(sorted(EXCEPTIONS))
            raise ValueError(f"not an exception kind: {', '.join(wrong)}; use {allowed}")
        return kinds


class ShipmentException(Trigger[ShipmentExceptionParams]):
    """The carrier reports a problem: a failed or attempted delivery, a return, damage, loss.

    The latest tracking event (at or before ``now``) decides; the shipment's own status
    only when it is newer than the events (``last_event_at``). The anchor is when the
    carrier reported the problem. A later ordinary event (the parcel moves again) ends it.
    """

    name = "shipment.exception"
    entity = "shipment"
    sees = frozenset({"customer", "order", "shipment"})
    params_model = ShipmentExceptionParams
    max_delay = None

    def check(self, facts: Facts, params: ShipmentExceptionParams, now: datetime) -> Check:
        shipment = facts.shipment
        if blocker := _parcel_blocker(facts):
            return _miss(blocker)
        assert shipment is not None
        events = _events_until(shipment, now)
        last = events[-1] if events else None
        kind = shipment_status(last.status) if last else None
        at = last.at if last else None
        if kind not in EXCEPTIONS:
            # The shipment's own status speaks only when it is newer than every event we
            # hold (a carrier API that updates the status without an event list).
            kind = shipment_status(shipment.status)
            at = shipment.last_event_at
            if kind not in EXCEPTIONS:
                return _miss(f"parcel {shipment.status}, no exception")
            if last is not None and (at is None or at <= last.at):
                return _miss(f"parcel {last.status} since the exception")
        if kind not in params.kinds:
            return _miss(f"{kind} is not among the rule's kinds")
        if at is None:
            return _miss(f"{kind} reported without a time")
        return Check(at, f"carrier reports {kind}", episode=at)


class ShipmentAtRiskParams(Params):
    threshold: float = Field(default=0.6, gt=0, lt=1)


class ShipmentAtRisk(Trigger[ShipmentAtRiskParams]):
    """A parcel on its way that will probably arrive after its promise, said before it does.

    The probability comes from the transit model learned from the shop's delivered
    parcels (:mod:`notifier.transit`), given the carrier, service, destination region, the
    last scan's status and how long the parcel has been silent since. The anchor is the
    moment that probability reaches ``threshold`` if no new scan comes — a new scan makes
    the scan look again. One episode per parcel and promise: a changed promise is a new
    episode. Once the promise has passed ``shipment.late`` speaks, and a delivered parcel
    is never at risk.
    """

    name = "shipment.at_risk"
    entity = "shipment"
    sees = frozenset({"customer", "order", "shipment"})
    params_model = ShipmentAtRiskParams
    # Re-checked before sending (never after delivery or the promise), so a warning held
    # up by an outage is still true while it goes out.
    max_delay = None

    def check(self, facts: Facts, params: ShipmentAtRiskParams, now: datetime) -> Check:
        shipment, order = facts.shipment, facts.order
        if blocker := _parcel_blocker(facts, delivered=True):
            return _miss(blocker)
        assert shipment is not None
        promise = order.deliver_by if order else None
        if promise is None:
            return _miss("no promised delivery date")
        if now >= promise:
            return _miss("promise passed (shipment.late speaks)")
        model = facts.transit
        if model is None:
            return _miss("no transit model fitted yet")
        position = transit_observe.current_position(
            shipment, order, now, transit_observe.segmenter_for(model.settings))
        if position is None:
            return _miss(f"parcel {shipment.status}, not moving")
        crossed = model.crossing(position, promise, params.threshold)
        if crossed is None:
            return _miss(f"on time with probability over {1 - params.threshold:g}")
        at, curve = crossed
        return Check(at, f"late with probability >= {params.threshold:g} ({curve}, model "
                         f"v{model.version})",
                     episode=promise)


class OrderDeliveredParams(Params):
    after: Duration = timedelta(days=3)


class OrderDelivered(Trigger[OrderDeliveredParams]):
    """An order delivered ``after`` ago: time to ask how it went."""

    name = "order.delivered"
    entity = "order"
    sees = frozenset({"customer", "order", "shipment"})
    params_model = OrderDeliveredParams
    max_delay = timedelta(days=7)

    def check(self, facts: Facts, params: OrderDeliveredParams, now: datetime) -> Check:
        if facts.order is None:
            return _miss("no order")
        if blocker := _order_blocker(facts.order):
            return _miss(blocker)
        delivered_at = _delivered_at(facts)
        if delivered_at is None:
            return _miss("not delivered")
        return Check(delivered_at + params.after, "order delivered", episode=delivered_at)


#: Every trigger by name. Stateless instances: a constant, not a registry to mutate.
TRIGGERS: Mapping[str, Trigger[Any]] = MappingProxyType(
    {
        t.name: t
        for t in (
            CartAbandoned(),
            OrderUnshipped(),
            ShipmentLate(),
            ShipmentStalled(),
            ShipmentException(),
            ShipmentAtRisk(),
            OrderDelivered(),
        )
    }
)
