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
from sqlmodel import Session, col, select

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


@dataclass(frozen=True)
class OfferRequest:
    """One reservation of :meth:`OfferService.reserve_many` (the arguments of
    :meth:`OfferService.reserve`)."""

    policy: str
    notification_id: int
    customer_id: int | None
    segment: str | None
    order_id: int | None
    order_total: Decimal | None
    currency: str
    days_late: int
    rule: str
    step: int


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
_OFFERS = Offer.__table__  # type: ignore[attr-defined]

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

    def batchable(self, policy: str) -> bool:
        """Whether :meth:`reserve_many` reserves ``policy`` in set-based statements: not
        with a monthly budget or a code pool, whose rows each reservation locks in turn."""
        pol = self.policies.get(policy)
        return pol is None or (pol.monthly_budget is None and pol.codes != "pool")

    def reserve_many(self, session: Session, requests: list[OfferRequest], *,
                     now: datetime) -> dict[int, Reservation]:
        """:meth:`reserve` for many notifications, by notification id, in a few statements
        for the whole batch instead of a handful per offer: customers locked in one
        statement (in customer order, so concurrent workers cannot deadlock), the held
        offers, the limit counts and the codes looked up together, the offers inserted
        together. Policies that are not :meth:`batchable` go through :meth:`reserve`."""
        out: dict[int, Reservation] = {}
        many: list[tuple[OfferRequest, OfferPolicy]] = []
        for r in sorted(requests, key=lambda r: (r.customer_id or 0, r.notification_id)):
            pol = self.policies.get(r.policy)
            if not self.settings.offers.enabled or pol is None or not self.batchable(r.policy):
                out[r.notification_id] = self.reserve(
                    session, policy=r.policy, notification_id=r.notification_id,
                    customer_id=r.customer_id, segment=r.segment, order_id=r.order_id,
                    order_total=r.order_total, currency=r.currency, days_late=r.days_late,
                    rule=r.rule, step=r.step, now=now)
            else:
                many.append((r, pol))
        if not many:
            return out
        limited = [(r, pol) for r, pol in many if pol.limit is not None and r.customer_id]
        guards.lock_customers(session, sorted({(r.customer_id or 0, pol.limit_group)
                                               for r, pol in limited}))
        held = {o.notification_id: o for o in session.exec(
            select(Offer).where(col(Offer.notification_id).in_(
                [r.notification_id for r, _ in many]))
            .execution_options(populate_existing=True))}
        used: dict[tuple[int, str], int] = {}
        for group, window in {(pol.limit_group, pol.limit.window)
                              for _, pol in limited if pol.limit is not None}:
            customers = {r.customer_id or 0 for r, pol in limited if pol.limit_group == group}
            counted = guards.offers_since_many(session, customer_ids=customers,
                                               limit_group=group, since=now - window)
            used.update(((c, group), counted.get(c, 0)) for c in customers)
        rows: list[dict[str, object]] = []
        for r, pol in many:
            if (offer := held.get(r.notification_id)) is not None:
                out[r.notification_id] = self._reservation_of(offer)
                continue
            terms = self._terms(pol, days_late=r.days_late, order_total=r.order_total,
                                currency=r.currency.upper(), segment=r.segment)
            if isinstance(terms, Reservation):
                out[r.notification_id] = terms
                continue
            if pol.limit is not None and r.customer_id:
                key = (r.customer_id, pol.limit_group)
                if used.get(key, 0) >= pol.limit.count:
                    out[r.notification_id] = self._declined(pol, "limit", (
                        f"customer limit {pol.limit.count}/{format_duration(pol.limit.window)} "
                        f"of {pol.limit_group!r} reached"))
                    continue
                used[key] = used.get(key, 0) + 1  # a second one in this batch counts it
            rows.append({
                "code": "", "policy": pol.name, "limit_group": pol.limit_group,
                "kind": terms.kind.value, "value": terms.value, "currency": terms.currency,
                "source": "generated", "customer_id": r.customer_id, "order_id": r.order_id,
                "notification_id": r.notification_id, "rule": r.rule, "step": r.step,
                "days_late": r.days_late, "issued_at": now,
                "expires_at": self._expiry(pol, now), "estimated_cost": terms.cost,
                "budget_month": None, "status": "issued",
                "_prefix": pol.code_prefix})
        if rows:
            self._codes(session, rows)
            for row in rows:
                del row["_prefix"]
            inserted = session.execute(sa.insert(_OFFERS).returning(
                _OFFERS.c.notification_id, _OFFERS.c.id), rows)
            ids = {int(nid): int(oid) for nid, oid in inserted}
            announce = sync.announces_issued(self.settings)
            for row in rows:
                nid = int(str(row["notification_id"]))
                if announce:  # an ORM object costs more than the rest of a reservation
                    sync.issued(session, self.settings, Offer(id=ids[nid], **row), now=now)
                self.metrics.count(f"issued:{row['policy']}")
                view = OfferView(code=str(row["code"]), kind=OfferKind(row["kind"]),
                                 value=Decimal(str(row["value"])),
                                 currency=str(row["currency"]),
                                 expires_at=row["expires_at"])  # type: ignore[arg-type]
                out[nid] = Reservation(offer=view, offer_id=ids[nid])
        return out

    def _codes(self, session: Session, rows: list[dict[str, object]]) -> None:
        """Generated codes for ``rows``, none issued or pooled before (one query a round)."""
        pending = rows
        for _ in range(5):  # ~49 bits of randomness: a clash is a curiosity, not a case
            for row in pending:
                row["code"] = generate_code(str(row["_prefix"]),
                                            self.settings.offers.code_length)
            codes = [str(row["code"]) for row in pending]
            taken = pool.codes_in_use(session, codes)
            seen: set[str] = set()
            clashing = []
            for row in pending:
                code = str(row["code"])
                if code in taken or code in seen:
                    clashing.append(row)
                seen.add(code)
            if not clashing:
                return
            pending = clashing
        raise RuntimeError("could not generate unused offer codes")

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
        return self._reservation_of(offer)

    def _reservation_of(self, offer: Offer) -> Reservation:
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



