"""The dispatcher's gestures beyond the message: a compensation offer, a hand-over to a person.

An offer is reserved only when a message is about to be sent (never for a deferred one),
inside its own transaction; "no offer" is a normal outcome with a reason. An escalation
is recorded once per notification; its helpdesk webhook goes through the durable
outbound queue and the support email is returned for the email channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from notifier.detect.conditions import ConditionFailed
from notifier.detect.evaluate import condition_values
from notifier.detect.facts import Facts
from notifier.detect.rules import Rule, RuleSet
from notifier.dispatch.batch import Batch, Finish, Send
from notifier.domain import EmailMessage
from notifier.escalation import build_escalation, enqueue_escalation
from notifier.offers import OfferService, days_past
from notifier.offers.service import Reservation
from notifier.runtime import Runtime
from notifier.store.db import transaction
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

    def offer(self, batch: Batch, n: Notification, rule: Rule, facts: Facts,
               now: datetime) -> Reservation:
        """Reserve the step's offer (the same one again on a retry); never raises for a
        "no": the message then goes without an offer and the reason is kept."""
        policy = rule.steps[n.step].offer
        if not policy or self.offers is None:
            return Reservation()
        order, cart, customer = facts.order, facts.cart, facts.customer
        with transaction(self.runtime.sessions) as session:
            reservation = self.offers.reserve(
                session, policy=policy, notification_id=n.id or 0,
                customer_id=customer.id if customer else None,
                segment=customer.segment if customer else None,
                order_id=order.id if order else None,
                order_total=order.total if order else (cart.value if cart else None),
                currency=(order.currency if order else cart.currency if cart
                          else self.settings.shop.currency),
                days_late=self.days_late(facts, n, now), rule=n.rule, step=n.step, now=now)
        if reservation.escalate:
            batch.escalate[n.id or 0] = f"offer not possible: {reservation.reason}"
        return reservation

    def void(self, n: Notification, reason: str, now: datetime) -> None:
        if self.offers is None:
            return
        with transaction(self.runtime.sessions) as session:
            self.offers.void(session, n.id or 0, reason, now=now)

    def maybe_escalate(self, batch: Batch, n: Notification, plan: Finish | Send,
                       now: datetime) -> EmailMessage | None:
        """Hand the case to a person when the step says so (always, or when its
        ``escalate`` expression holds) or when the offer policy wants it; returns the
        support email to send, if one is configured and this is the first hand-over."""
        if isinstance(plan, Finish) and plan.status in ("pending", "held_out", "dry_run"):
            return None  # deferred: decided again when it is due
        rule = self.rules().get(n.rule)
        facts = batch.facts.get((n.entity_kind, n.entity_id))
        if rule is None or facts is None or n.step >= len(rule.steps):
            return None
        reason = batch.escalate.get(n.id or 0)
        step = rule.steps[n.step]
        try:
            if step.escalates(condition_values(facts, now, self.days_late(facts, n, now))):
                reason = reason or f"rule {rule.name} step {n.step + 1} escalates this case"
        except ConditionFailed as exc:
            log.warning("escalate condition of %s: %s", rule.name, exc)
        if reason is None:
            return None
        if isinstance(plan, Finish):
            reason += f"; the customer was not contacted: {plan.reason}"
        escalation_settings = self.settings.escalation
        with transaction(self.runtime.sessions) as session:
            case = build_escalation(
                session, notification=n, reason=reason, now=now,
                timeline_limit=escalation_settings.timeline_limit,
                incident_window=escalation_settings.incident_window)
            handover = enqueue_escalation(session, case, self.settings, now)
        return handover.email
