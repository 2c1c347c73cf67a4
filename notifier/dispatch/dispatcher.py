"""The dispatcher: take due notifications from the outbox and hand them to channels.

For each claimed notification it decides, in this order: is the reason still there (a
recovered cart gets no reminder); which channel can reach the customer (contact point,
consent for the purpose, suppression list), falling back along the rule's channel list;
is it a decent hour (quiet hours in the customer's zone, public holidays for marketing)
and within the frequency cap; then it renders and sends. Every notification that is not
sent carries its reason. The attempt is written before the provider is called and
completed after it answers, so a crash mid-send leaves evidence, and the channel gets an
idempotency key so a retaken claim does not send twice where the provider honours it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time as time_
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session

from notifier.compose import Composer, Links, RecipientError, RenderContext, ShopView
from notifier.deliver.base import ChannelBase
from notifier.deliver.policies import (
    backoff,
    cap_until,
    holiday_until,
    quiet_until,
)
from notifier.detect.evaluate import reason_gone
from notifier.detect.facts import Facts
from notifier.detect.rules import Rule, RuleSet
from notifier.dispatch.batch import Batch, Finish, Send, address_of
from notifier.dispatch.gestures import Gestures
from notifier.dispatch.ratelimit import RateLimiter
from notifier.domain import Channel, EmailMessage, Message, Outgoing, Purpose
from notifier.errors import DeliveryError, TemplateError
from notifier.offers import OfferService
from notifier.runtime import Runtime
from notifier.store import outbox
from notifier.store.db import transaction
from notifier.store.tables import Notification
from notifier.track.clicks import store_links
from notifier.track.links import Tracked, link_token, open_token, rewrite
from notifier.track.surveys import survey_links
from notifier.track.tokens import sign
from notifier.track.verp import return_path
from notifier.transit.model import TransitModel

log = logging.getLogger(__name__)

# Permanent failures that mean "never write to this address again on this channel".
SUPPRESSING_CODES = {"twilio:21610": "recipient replied STOP (Twilio 21610)",
                     "push:gone": "push subscription expired (404/410)",
                     "smsapi:57": "number on the SMSAPI blacklist (opted out)"}


def _suppressing(code: str) -> str | None:
    if code in SUPPRESSING_CODES:
        return SUPPRESSING_CODES[code]
    if code.startswith("smtp-5xx:55"):  # 550-554: mailbox unavailable, hard bounce
        return f"hard bounce ({code})"
    return None


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"



class Dispatcher:
    """Sends what is due as of ``now``; one instance per worker process."""

    def __init__(self, runtime: Runtime, *, rules: Callable[[], RuleSet], composer: Composer,
                 channels: dict[Channel, ChannelBase], owner: str | None = None,
                 offers: OfferService | None = None,
                 transit: Callable[[], TransitModel | None] = lambda: None) -> None:
        self.runtime = runtime
        self.transit = transit
        self.settings = runtime.settings
        self.delivery = runtime.settings.delivery
        self.rules = rules
        self.composer = composer
        self.channels = channels
        self.owner = owner or worker_id()
        self.disabled: dict[tuple[str, int], str] = {}
        self.limits = {Channel(k): RateLimiter(v) for k, v in self.delivery.rate_limits.items()}
        self.shop = ShopView.from_settings(self.settings.shop)
        self.offers = offers
        self.gestures = Gestures(runtime, rules=rules, offers=offers)
        self.caps = {purpose: (cap.count, cap.window)
                     for purpose, cap in self.delivery.frequency_caps.items() if cap is not None}
        self.handovers: list[tuple[int, EmailMessage]] = []

    async def run(self, now: datetime) -> Counter[str]:
        """Claim up to ``batch_size`` due notifications and see each to its next state.

        Deciding is done for the whole batch at once (a handful of queries, not a handful
        per message), and the outcomes that need no provider commit together; then the
        sends run concurrently, each written as a "sending" attempt just before its call
        and completed after it.
        """
        lease = timedelta(seconds=self.delivery.lease_s)
        ids = await asyncio.to_thread(self._claim, now, lease)
        if not ids:
            return Counter()
        plans = await asyncio.to_thread(self._decide, ids, now)
        outcome: Counter[str] = Counter(
            p.status for p in plans.values() if isinstance(p, Finish))
        gate = asyncio.Semaphore(self.delivery.concurrency)

        async def one(notification_id: int, plan: Send) -> None:
            async with gate:
                try:
                    outcome[await self._send(notification_id, plan, now)] += 1
                except Exception:  # one bad message must not stop the batch
                    log.exception("dispatch of notification %s failed", notification_id)
                    outcome["error"] += 1

        await asyncio.gather(*(one(i, p) for i, p in plans.items() if isinstance(p, Send)))
        await asyncio.to_thread(self._count, ids)
        outcome["escalated"] += await self._hand_over()
        outcome = +outcome  # drop zero counts
        log.info("dispatch at %s: %s", now.isoformat(), dict(outcome))
        return outcome

    def _count(self, ids: list[int]) -> None:
        """Each notification of the pass, by where it ended up, for ``/metrics``."""
        with self.runtime.sessions() as session:
            for rule, channel, status, n in outbox.statuses_of(session, ids):
                self.runtime.metrics.notification(rule, channel, status, n)

    async def _hand_over(self) -> int:
        """Email the support team the escalations this batch recorded (their webhooks go
        through the durable outbound queue)."""
        emails, self.handovers = self.handovers, []
        channel = self.channels.get(Channel.EMAIL)
        for notification_id, email in emails:
            if channel is None:
                log.error("escalation %s: no email channel to reach support", notification_id)
                continue
            try:
                await channel.send(Outgoing(f"escalation:{notification_id}", email))
            except DeliveryError as exc:
                log.error("escalation email for notification %s failed: %s",
                          notification_id, exc)
        return len(emails)

    def _claim(self, now: datetime, lease: timedelta) -> list[int]:
        with transaction(self.runtime.sessions) as session:
            rows = outbox.claim(session, now=now, owner=self.owner, lease=lease,
                                limit=self.delivery.batch_size)
            return [r.id for r in rows if r.id is not None]

    # -- deciding --------------------------------------------------------------------

    def _decide(self, ids: list[int], now: datetime) -> dict[int, Finish | Send]:
        with self.runtime.sessions() as session:
            batch = Batch.load(session, ids, now, caps=self.caps, transit=self.transit())
        plans: dict[int, Finish | Send] = {}
        for nid in ids:
            n = batch.notifications.get(nid)
            plans[nid] = (Finish("skipped", "notification vanished") if n is None
                          else self._plan(batch, n, now))
            if n is not None:
                email = self.gestures.maybe_escalate(batch, n, plans[nid], now)
                if email is not None:
                    self.handovers.append((nid, email))
        with transaction(self.runtime.sessions) as session:
            for nid, plan in plans.items():
                if isinstance(plan, Finish):
                    self._finish(session, nid, plan)
                else:
                    plan.attempt_number = batch.notifications[nid].attempts + 1
        return plans

    def _plan(self, batch: Batch, n: Notification, now: datetime) -> Finish | Send:
        rule = self.rules().get(n.rule)
        if rule is None or n.step >= len(rule.steps):
            return Finish("skipped", f"rule {n.rule!r} step {n.step} is no longer loaded")
        if (rule.name, n.step) in self.disabled:
            return Finish("skipped", f"step disabled: {self.disabled[(rule.name, n.step)]}")
        facts = batch.facts.get((n.entity_kind, n.entity_id))
        if facts is None:
            return Finish("skipped", f"{n.entity_kind} {n.entity_id} no longer exists")
        # No ``step=``: a message deferred by quiet hours or a cap waits as long as its
        # reason holds (deferred, never dropped); max_delay guards only detection. The
        # key: a message about an earlier occurrence (a cart abandoned again) is not sent.
        if (why := reason_gone(rule, facts, now, key=n.key)) is not None:
            return Finish("skipped", f"reason gone before sending: {why}")

        ctx = self._context(rule, facts, now, n)
        consents = batch.consents.get(facts.customer.id, {}) if facts.customer else {}
        failed = batch.failed.get(n.id or 0, set())
        reasons = [f"{c}: failed permanently before" for c in n.channels if c in failed]
        for name in n.channels:
            if name in failed:
                continue
            channel = Channel(name)
            address, why = self._reachable(batch, channel, rule.purpose, ctx, consents)
            if address is None:
                reasons.append(f"{name}: {why}")
                continue
            wait = self._not_before(batch, channel, rule, facts, now)
            if isinstance(wait, Finish):
                return wait
            note = self.gestures.offer(batch, n, rule, facts, now)
            if note.offer is not None:
                ctx = replace(ctx, offer=note.offer)
            try:
                message = self.composer.render(n.template, channel, ctx,
                                               transliterate=rule.steps[n.step].transliterate)
            except RecipientError as exc:
                reasons.append(f"{name}: {exc}")
                continue
            except TemplateError as exc:
                self.disabled[(rule.name, n.step)] = f"template error: {exc}"
                log.error("rule %s step %d disabled: %s", rule.name, n.step, exc)
                self.gestures.void(n, "template error", now)
                return Finish("failed", f"template error, step disabled: {exc}")
            if facts.customer is not None:  # counts towards the cap for the rest of the batch
                batch.sent.setdefault((facts.customer.id, rule.purpose.value), []).append(now)
            tracked = self._track(n, rule, message)
            # A fallback says why the earlier channels were passed over (a hard bounce...).
            why = "; ".join([*reasons, *([note.reason] if note.offer is None and note.reason
                                         else [])])
            return Send(channel, Outgoing(f"{n.key}:{name}", tracked.message), address,
                        note=why or None, links=tracked.urls,
                        survey=rule.steps[n.step].survey)
        return Finish("skipped", "; ".join(reasons) or "no channel configured for this rule")

    def _reachable(self, batch: Batch, channel: Channel, purpose: Purpose,
                   ctx: RenderContext, consents: dict[tuple[str, str], bool]
                   ) -> tuple[str | None, str]:
        if channel not in self.channels:
            return None, "channel not configured"
        try:
            address = address_of(channel, ctx)
        except RecipientError:
            return None, f"no contact point ({channel.value})"
        granted = consents.get((channel.value, purpose.value))
        if granted is False:
            return None, f"customer refused {purpose.value} {channel.value}"
        # Marketing needs an opt-in; a push subscription is one (the browser asked).
        if purpose is Purpose.MARKETING and not granted and channel is not Channel.PUSH:
            return None, f"no consent for marketing {channel.value}"
        blocked = batch.suppression(channel.value, address, purpose.value)
        if blocked:
            return None, f"suppressed ({blocked})"
        return address, ""

    def _not_before(self, batch: Batch, channel: Channel, rule: Rule, facts: Facts,
                    now: datetime) -> Finish | None:
        zone = self._zone(facts)
        window = self.delivery.quiet_window(channel.value, rule.purpose.value)
        until = quiet_until(now, zone, window)
        if until is not None:
            return Finish("pending", f"quiet hours until {until.isoformat()}", until)
        if rule.purpose is Purpose.MARKETING and self.delivery.holidays_quiet_for_marketing:
            opening = window.end if window else time(8)
            until = holiday_until(now, zone, self.settings.shop.country, opening)
            if until is not None:
                return Finish("pending", f"public holiday, deferred until {until.isoformat()}",
                              until)
        cap = self.caps.get(rule.purpose.value)
        if cap is not None and facts.customer is not None:
            limit, window_td = cap
            sent = batch.sent.get((facts.customer.id, rule.purpose.value), [])
            free_at = cap_until(sent, limit, window_td, now)
            if free_at is not None:
                label = self.delivery.frequency_caps[rule.purpose.value]
                if rule.on_cap == "drop":
                    return Finish("skipped", f"frequency cap {label} reached: dropped")
                return Finish("pending", f"frequency cap {label} until {free_at.isoformat()}",
                              free_at)
        return None

    def _zone(self, facts: Facts) -> ZoneInfo:
        name = (facts.customer.timezone if facts.customer else None) or self.settings.shop.timezone
        try:
            return ZoneInfo(name)
        except ZoneInfoNotFoundError:
            return ZoneInfo(self.settings.shop.timezone)

    def _context(self, rule: Rule, facts: Facts, now: datetime,
                 n: Notification | None = None) -> RenderContext:
        base = self.settings.server.public_url.rstrip("/")
        links = Links(tracking=facts.shipment.tracking_url if facts.shipment else None)
        secret = self.settings.server.secret_key.get_secret_value()
        if facts.customer is not None:
            token = sign({"c": facts.customer.id, "p": rule.purpose.value}, secret)
            links = Links(unsubscribe=f"{base}/u/{token}", preferences=f"{base}/u/{token}",
                          tracking=links.tracking)
        kind = rule.steps[n.step].survey if n is not None else None
        if kind is not None and n is not None and n.id is not None:
            links = replace(links, survey=survey_links(base, n.id, kind, secret),
                            survey_kind=kind)
        return RenderContext(customer=facts.customer, order=facts.order,
                             shipment=facts.shipment, cart=facts.cart, offer=None,
                             shop=self.shop, links=links, now=now, purpose=rule.purpose)

    # -- sending ---------------------------------------------------------------------

    async def _send(self, notification_id: int, plan: Send, now: datetime) -> str:
        # Written just before the call, so a crash leaves a "sending" attempt exactly
        # where a message may or may not have reached the provider.
        attempt_id = await asyncio.to_thread(self._begin, notification_id, plan, now)
        limiter = self.limits.get(plan.channel)
        if limiter is not None:
            await limiter.wait()
        started = time_.perf_counter()
        try:
            result = await self.channels[plan.channel].send(plan.outgoing)
        except DeliveryError as exc:
            seconds = time_.perf_counter() - started
            self.runtime.metrics.provider_error(plan.channel.value, seconds,
                                                permanent=exc.permanent)
            return await asyncio.to_thread(self._failed, notification_id, attempt_id, plan,
                                           exc, now, int(seconds * 1000))
        seconds = time_.perf_counter() - started
        self.runtime.metrics.sent(plan.channel.value, seconds)
        took = int(seconds * 1000)
        await asyncio.to_thread(self._sent, notification_id, attempt_id, plan,
                                result.provider_id, now, took)
        return "sent"

    def _track(self, n: Notification, rule: Rule, message: Message) -> Tracked:
        """The message with its links through ``/r/{token}`` (unless the rule or
        ``[track] click_tracking`` says no), in HTML email the open pixel, and with
        ``[email.bounces] verp_domain`` a return path naming the notification."""
        bounces = self.settings.email.bounces
        if isinstance(message, EmailMessage) and bounces.verp_domain and n.id is not None:
            message = replace(message, return_path=return_path(
                n.id, local=bounces.verp_local, domain=bounces.verp_domain,
                secret=self.settings.server.secret_key.get_secret_value()))
        track = self.settings.track
        if not (track.click_tracking and rule.track_clicks) or n.id is None:
            return Tracked(message, ())
        base = self.settings.server.public_url.rstrip("/")
        secret = self.settings.server.secret_key.get_secret_value()
        nid = n.id
        pixel = f"{base}/o/{open_token(nid, secret)}.gif" if track.open_pixel else None
        return rewrite(message, url_for=lambda i: f"{base}/r/{link_token(nid, i, secret)}",
                       keep=(f"{base}/u/", f"{base}/s/"), pixel=pixel)

    def _begin(self, notification_id: int, plan: Send, now: datetime) -> int:
        with transaction(self.runtime.sessions) as session:
            store_links(session, notification_id=notification_id, urls=plan.links)
            if plan.survey:
                outbox.set_survey(session, notification_id=notification_id, kind=plan.survey)
            return outbox.begin_attempt(session, notification_id=notification_id,
                                        number=plan.attempt_number, channel=plan.channel.value,
                                        now=now)

    def _sent(self, notification_id: int, attempt_id: int, plan: Send, provider_id: str,
              now: datetime, took: int) -> None:
        with transaction(self.runtime.sessions) as session:
            outbox.finish_attempt(session, attempt_id=attempt_id, outcome="sent", now=now,
                                  provider_id=provider_id, duration_ms=took)
            outbox.mark_sent(session, notification_id=notification_id, now=now,
                             channel=plan.channel.value, recipient=plan.recipient,
                             provider_id=provider_id, note=plan.note)

    def _failed(self, notification_id: int, attempt_id: int, plan: Send, exc: DeliveryError,
                now: datetime, took: int) -> str:
        with transaction(self.runtime.sessions) as session:
            n = session.get(Notification, notification_id)
            if n is None:
                return "error"
            n.attempts += 1
            n.channel, n.recipient = plan.channel.value, plan.recipient
            n.lease_until = n.lease_owner = None
            error = f"{exc.code or 'error'}: {exc.reason}"
            if exc.permanent:
                outbox.finish_attempt(session, attempt_id=attempt_id, outcome="failed", now=now,
                                      error=error, duration_ms=took)
                why = _suppressing(exc.code)
                if why:
                    outbox.suppress(session, channel=plan.channel.value, address=plan.recipient,
                                    reason=why, now=now)
                remaining = n.channels[n.channels.index(plan.channel.value) + 1:]
                if remaining:
                    n.status, n.due_at = "pending", now
                    n.reason = f"{plan.channel.value} failed permanently ({error}); falling back"
                else:
                    n.status, n.reason = "failed", f"permanent failure: {error}"
                    if self.offers is not None:
                        self.offers.void(session, notification_id, n.reason, now=now)
            else:
                outbox.finish_attempt(session, attempt_id=attempt_id, outcome="retry", now=now,
                                      error=error, duration_ms=took)
                if n.attempts >= self.delivery.max_attempts:
                    n.status = "failed"
                    n.reason = f"gave up after {n.attempts} attempts; last: {error}"
                    if self.offers is not None:
                        self.offers.void(session, notification_id, n.reason, now=now)
                else:
                    delay = backoff(n.attempts, base_s=self.delivery.backoff_base_s,
                                    max_s=self.delivery.backoff_max_s,
                                    retry_after=exc.retry_after)
                    n.status, n.due_at = "pending", now + delay
                    n.reason = f"retry {n.attempts + 1} at {n.due_at.isoformat()} after {error}"
            session.add(n)
            return n.status if n.status != "pending" else "retry"

    def _finish(self, session: Session, notification_id: int, plan: Finish) -> None:
        n = session.get(Notification, notification_id)
        if n is None or (n.lease_owner not in (None, self.owner)):
            return
        n.status, n.reason = plan.status, plan.reason
        if plan.due_at is not None:
            n.due_at = plan.due_at
        n.lease_until = n.lease_owner = None
        session.add(n)
