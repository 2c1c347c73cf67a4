"""The dispatcher's gestures beyond the message: a compensation offer, a hand-over to a person.

Deciding asks :meth:`Gestures.escalation_reason` (reads only). Acting happens in the
transaction that commits the decision: :meth:`Gestures.reserve` right before the message
is rendered and its attempt begun (never for a deferred one), :meth:`Gestures.escalate`
with the outcome it belongs to, so the case, its support email and its helpdesk webhook
are committed together with it or not at all. "No offer" is a normal outcome with a
reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from notifier.detect.conditions import ConditionFailed
from notifier.detect.evaluate import condition_values
from notifier.detect.rules import RuleSet
from notifier.domain import Facts
from notifier.escalation import build_escalation, enqueue_escalation
from notifier.offers import OfferService, days_past
from notifier.offers.service import OfferRequest, Reservation
from notifier.runtime import Runtime
from notifier.store.tables import Notification

log = logging.getLogger(__name__)


class Gestures:
    def __init__(self, runtime: Runtime, *, rules: Callable[[], RuleSet],
                 offers: OfferService | None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.rules = rules
        self.offers = offers

    def days_late(self, facts: Facts, n: Notification, now: datetime) -> int:
        order = facts.order
        unshipped = days_past(order.ship_by, now) if order and not order.shipped_at else 0
        return max(n.days_late, unshipped)

    def wants_offer(self, n: Notification) -> str:
        """The offer policy the row's step names ("" for none, or offers disabled)."""
        rule = self.rules().get(n.rule)
        if self.offers is None or rule is None or n.step >= len(rule.steps):
            return ""
        return rule.steps[n.step].offer or ""

    def shares_transaction(self, policy: str) -> bool:
        """Whether reservations of ``policy`` may share one transaction and be made
        together (:meth:`OfferService.reserve_many`): not with a monthly budget or a code
        pool, whose rows each reservation locks in turn."""
        return self.offers is None or self.offers.batchable(policy)

    def reserve(self, session: Session, n: Notification, policy: str, facts: Facts,
                now: datetime) -> Reservation:
        """Reserve the step's offer (the same one again on a retry) in ``session``; never
        raises for a "no": the message then goes without an offer and the reason is kept."""
        return self.reserve_many(session, [(n, policy, facts)], now)[n.id or 0]

    def reserve_many(self, session: Session, wanted: list[tuple[Notification, str, Facts]],
                     now: datetime) -> dict[int, Reservation]:
        """:meth:`reserve` for several rows, by notification id, in a few statements."""
        if self.offers is None:
            return {n.id or 0: Reservation() for n, _, _ in wanted}
        requests = []
        for n, policy, facts in wanted:
            order, cart, customer = facts.order, facts.cart, facts.customer
            requests.append(OfferRequest(
                policy=policy, notification_id=n.id or 0,
                customer_id=customer.id if customer else None,
                segment=customer.segment if customer else None,
                order_id=order.id if order else None,
                order_total=order.total if order else (cart.value if cart else None),
                currency=(order.currency if order else cart.currency if cart
                          else self.settings.shop.currency),
                days_late=self.days_late(facts, n, now), rule=n.rule, step=n.step))
        return self.offers.reserve_many(session, requests, now=now)

    def void(self, session: Session, n: Notification, reason: str, now: datetime) -> None:
        if self.offers is not None:
            self.offers.void(session, n.id or 0, reason, now=now)

    def escalation_reason(self, n: Notification, facts: Facts | None,
                          now: datetime) -> str | None:
        """Why the step hands the case to a person (always, or when its ``escalate``
        expression holds), or None. Reads only."""
        rule = self.rules().get(n.rule)
        if rule is None or facts is None or n.step >= len(rule.steps):
            return None
        step = rule.steps[n.step]
        try:
            if step.escalates(condition_values(facts, now, self.days_late(facts, n, now))):
                return f"rule {rule.name} step {n.step + 1} escalates this case"
        except ConditionFailed as exc:
            log.warning("escalate condition of %s: %s", rule.name, exc)
        return None

    def escalate(self, session: Session, n: Notification, reason: str, now: datetime) -> bool:
        """Record the case and queue its support email and webhook, in ``session`` (the
        transaction of the outcome). False when it was handed over before."""
        config = self.settings.escalation
        case = build_escalation(session, notification=n, reason=reason, now=now,
                                timeline_limit=config.timeline_limit,
                                incident_window=config.incident_window)
        return enqueue_escalation(session, case, self.settings, now).created
