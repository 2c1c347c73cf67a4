"""Reserving a compensation offer for a notification, and voiding it.

The dispatcher calls :meth:`OfferService.reserve` inside its own transaction, right
before it renders a step that names an offer, and puts ``reservation.offer`` into the
render context. Reserving never raises for an ordinary "no": an unknown policy, no
matching tier, the customer's limit, the month's budget or an empty pool each give a
:class:`Reservation` without an offer and with a ``reason`` to store on the
notification; ``escalate`` is set when the policy wants a person instead
(``on_exhausted = "escalate"``, for limit, budget and pool only).

    reservation = offers.reserve(
        session, policy="delay-compensation", notification_id=n.id, customer_id=c.id,
        segment=c.segment, order_id=o.id, order_total=o.total, currency=o.currency,
        days_late=3, rule=n.rule, step=n.step, now=now)
    ctx = replace(ctx, offer=reservation.offer)     # None: the message goes without one

A retried notification gets the offer it got the first time (``offers.notification_id``
is unique). How the limit and budget hold under concurrency: :mod:`notifier.offers.guards`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from notifier.config import Settings
from notifier.config_types import format_duration
from notifier.domain import OfferKind, OfferView
from notifier.offers import guards, pool, sync
from notifier.offers.alerts import OfferMetrics, pool_alert
from notifier.offers.codes import generate_code
from notifier.offers.costs import Converter, estimate_cost
from notifier.offers.policies import OfferPolicy, choose_tier, load_policies
from notifier.store.offer_tables import Offer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reservation:
    """The outcome of :meth:`OfferService.reserve`: an offer, or why there is none."""

    offer: OfferView | None = None
    reason: str = ""
    escalate: bool = False
    offer_id: int | None = None


class _Declined(Exception):
    """Leaves the savepoint (undoing a budget charge or a taken pool code) with a reason."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


@dataclass(frozen=True)
class _Terms:
    """What an offer would give and cost, decided before any lock is taken."""

    kind: OfferKind
    value: Decimal
    currency: str
    cost: Decimal | None


_EXHAUSTED = {"limit", "budget", "pool_empty"}

# Built once (every reservation runs it): building a select per call cost more than running it.
_HELD = (select(Offer).where(Offer.notification_id == sa.bindparam("b_notification_id"))
         .execution_options(populate_existing=True))


class OfferService:
    """Offers for one process: policies loaded once from the settings, counters kept."""

    def __init__(self, settings: Settings, *, metrics: OfferMetrics | None = None) -> None:
        self.settings = settings
        self.policies = load_policies(settings.offers)
        self.metrics = metrics or OfferMetrics()
        rates = {k.upper(): v for k, v in settings.offers.exchange_rates.items()}
        self.converter = Converter(settings.shop.currency, rates)
        self.zone = ZoneInfo(settings.shop.timezone)

    def names(self) -> frozenset[str]:
        """Policy names a rule step may reference (for rule validation)."""
        return frozenset(self.policies)

    def reserve(self, session: Session, *, policy: str, notification_id: int,
                customer_id: int | None, segment: str | None, order_id: int | None,
                order_total: Decimal | None, currency: str, days_late: int, rule: str,
                step: int, now: datetime) -> Reservation:
        """Issue (or find again) the offer for ``notification_id``; see the module docstring.

        ``order_total`` is the order's total (a cart's value for cart rules) in
        ``currency``; ``days_late`` counts unshipped days too (:mod:`.lateness`).
        Writes: call it inside ``transaction(...)``, the unit of work that sends.
        """
        if not self.settings.offers.enabled:
            return Reservation(reason="offers are disabled ([offers] enabled = false)")
        pol = self.policies.get(policy)
        if pol is None:
            log.error("rule %s step %d names unknown offer policy %r", rule, step, policy)
            return Reservation(reason=f"unknown offer policy {policy!r}")
        if pol.limit is not None and customer_id is not None:
            # Locked before looking for this notification's offer, so a concurrent retry
            # of it that held the lock first is seen by the one look below.
            guards.lock_customer(session, customer_id=customer_id, limit_group=pol.limit_group)
        if (held := self._held(session, notification_id)) is not None:
            return held
        terms = self._terms(pol, days_late=days_late, order_total=order_total,
                            currency=currency.upper(), segment=segment)
        if isinstance(terms, Reservation):
            return terms
        if pol.limit is not None and customer_id is not None:
            used = guards.offers_since(session, customer_id=customer_id,
                                       limit_group=pol.limit_group, since=now - pol.limit.window)
            if used >= pol.limit.count:
                return self._declined(pol, "limit", (
                    f"customer limit {pol.limit.count}/{format_duration(pol.limit.window)} "
                    f"of {pol.limit_group!r} reached"))
        try:
            with session.begin_nested():
                offer = self._issue(session, pol, terms, now=now, customer_id=customer_id,
                                    order_id=order_id, notification_id=notification_id,
                                    rule=rule, step=step, days_late=days_late)
        except _Declined as declined:
            if declined.kind == "pool_empty":
                pool_alert(session, self.settings, self.metrics, pool=pol.name, left=0,
                           threshold=pol.pool_low_threshold, now=now)
            return self._declined(pol, declined.kind, declined.reason)
        except IntegrityError:
            # Another worker reserved for this notification and committed first.
            if (held := self._held(session, notification_id)) is not None:
                return held
            raise

        sync.issued(session, self.settings, offer, now=now)
        if pol.codes == "pool":
            pool_alert(session, self.settings, self.metrics, pool=pol.name,
                       left=pool.remaining(session, pool=pol.name),
                       threshold=pol.pool_low_threshold, now=now)
        self.metrics.count(f"issued:{pol.name}")
        return Reservation(offer=view_of(offer), offer_id=offer.id)

    def void(self, session: Session, notification_id: int, reason: str, *,
             now: datetime) -> bool:
        """Withdraw the offer of a notification that will not be sent; False if none is live.

        The budget charge is refunded, a pooled code goes back to its pool, and the shop
        is told (or a queued ``offer.issued`` is cancelled). Call it only when the message
        certainly did not reach the customer.
        """
        offer = session.exec(select(Offer).where(Offer.notification_id == notification_id)
                             .with_for_update()).first()
        if offer is None or offer.status != "issued":
            return False
        offer.status, offer.void_reason, offer.voided_at = "void", reason, now
        session.add(offer)
        if offer.budget_month and offer.estimated_cost is not None:
            guards.refund(session, policy=offer.policy, month=offer.budget_month,
                          cost=offer.estimated_cost)
        if offer.source == "pool":
            pool.give_back(session, code=offer.code)
        sync.voided(session, self.settings, offer, now=now)
        self.metrics.count(f"voided:{offer.policy}")
        return True

    # -- helpers -----------------------------------------------------------------------

    def _held(self, session: Session, notification_id: int) -> Reservation | None:
        offer = session.exec(_HELD, params={"b_notification_id": notification_id}).first()
        if offer is None:
            return None
        if offer.status == "void":
            return Reservation(reason=f"offer {offer.policy}: this notification's code "
                                      f"was voided ({offer.void_reason})")
        return Reservation(offer=view_of(offer), offer_id=offer.id)

    def _declined(self, pol: OfferPolicy, kind: str, reason: str) -> Reservation:
        self.metrics.count(f"declined:{kind}:{pol.name}")
        escalate = kind in _EXHAUSTED and pol.on_exhausted == "escalate"
        return Reservation(reason=f"offer {pol.name}: {reason}", escalate=escalate)

    def _terms(self, pol: OfferPolicy, *, days_late: int, order_total: Decimal | None,
               currency: str, segment: str | None) -> _Terms | Reservation:
        total = None if order_total is None else self.converter.to_shop(order_total, currency)
        tier = choose_tier(pol, days_late=days_late, order_total=total, segment=segment)
        if tier is None:
            return self._declined(pol, "no_tier", (
                f"no tier fits: {days_late} day(s) late, order total "
                f"{order_total if order_total is not None else '-'} {currency}, "
                f"segment {segment or '-'}"))
        value = tier.value_in(currency)
        if value is None:
            return self._declined(pol, "no_amount", f"the tier gives no amount in {currency}")
        cost = estimate_cost(pol, tier, value=value, order_total=order_total,
                             currency=currency, converter=self.converter)
        if cost is None and pol.monthly_budget is not None:
            return self._declined(pol, "no_rate", (
                f"cannot cost {currency} against the budget in {self.converter.shop_currency}: "
                f"set [offers.exchange_rates] {currency}"))
        return _Terms(tier.kind, value, currency, cost)

    def _issue(self, session: Session, pol: OfferPolicy, terms: _Terms, *, now: datetime,
               customer_id: int | None, order_id: int | None, notification_id: int,
               rule: str, step: int, days_late: int) -> Offer:
        """Charge the budget, take a code, store the offer; raises :class:`_Declined`."""
        month = now.astimezone(self.zone).strftime("%Y-%m")
        if pol.monthly_budget is not None and not guards.charge(
                session, policy=pol.name, month=month, cost=terms.cost or Decimal(0),
                cap=pol.monthly_budget):
            raise _Declined("budget", f"monthly budget {pol.monthly_budget} "
                                      f"{self.converter.shop_currency} of {month} reached")
        offer = Offer(
            code=self._code(session, pol, now), policy=pol.name, limit_group=pol.limit_group,
            kind=terms.kind.value, value=terms.value, currency=terms.currency,
            source="pool" if pol.codes == "pool" else "generated",
            customer_id=customer_id, order_id=order_id, notification_id=notification_id,
            rule=rule, step=step, days_late=days_late, issued_at=now,
            expires_at=self._expiry(pol, now), estimated_cost=terms.cost,
            budget_month=month if pol.monthly_budget is not None else None,
        )
        session.add(offer)
        session.flush()
        return offer

    def _code(self, session: Session, pol: OfferPolicy, now: datetime) -> str:
        if pol.codes == "pool":
            code = pool.take_code(session, pool=pol.name, now=now)
            if code is None:
                raise _Declined("pool_empty", f"code pool {pol.name!r} is empty "
                                              "(notifier offers import-codes)")
            return code
        for _ in range(5):  # ~49 bits of randomness: a clash is a curiosity, not a case
            code = generate_code(pol.code_prefix, self.settings.offers.code_length)
            if not pool.code_in_use(session, code):
                return code
        raise RuntimeError("could not generate an unused offer code")

    def _expiry(self, pol: OfferPolicy, now: datetime) -> datetime:
        # Valid to the end of the last day in the shop's timezone: "valid until 31.12".
        last = (now + pol.valid_for).astimezone(self.zone).date()
        return datetime.combine(last, time(23, 59, 59), tzinfo=self.zone)


def view_of(offer: Offer) -> OfferView:
    """The template-facing value of a stored offer."""
    return OfferView(code=offer.code, kind=OfferKind(offer.kind), value=Decimal(offer.value),
                     currency=offer.currency, expires_at=offer.expires_at)



