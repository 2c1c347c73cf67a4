"""The dispatcher: take due rows from the one outbox and hand them to channels.

Every delivery is an outbox row: a rule's message to a customer, a support email, a
signed webhook, a Shopify Admin call. A pass claims due rows with a lease, **decides**
for the whole batch (reads only, returns plans), writes the plans that need no provider
together, and **acts** on the rest: for each send, one transaction reserves the step's
offer, renders, records an escalation with its email and webhook and begins the attempt;
then the provider is called and its answer recorded the moment it arrives. What follows
a failure is :func:`~notifier.deliver.policies.after_failure`, for every kind alike.

For a customer message it decides, in this order: is the reason still there (a
recovered cart gets no reminder); which channel can reach the customer (contact point,
consent for the purpose, suppression list), falling back along the rule's channel list;
is it a decent hour (quiet hours in the customer's zone, public holidays for marketing)
and within the frequency cap. Every row that is not sent carries its reason.

A row whose lease ran out with an attempt still open was being sent by a worker that was
lost: whether the provider took it is unknown, and ``delivery.on_unknown`` decides
(``hold`` it, or ``resend``), as for a relay that never gave its final reply. Leases are
renewed while a batch is still sending, so a slow batch keeps its claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import threading
import time as time_
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifier.compose import Composer, Links, RecipientError, RenderContext, ShopView
from notifier.compose.samples import sample_context
from notifier.deliver.base import ChannelBase
from notifier.deliver.policies import (
    Hold,
    Retry,
    RetryPolicy,
    after_failure,
    cap_until,
    holiday_until,
    quiet_until,
)
from notifier.detect.evaluate import reason_gone
from notifier.detect.rules import Rule, RuleSet
from notifier.dispatch.batch import Batch, Finish, Render, Send, address_of
from notifier.dispatch.gestures import Gestures
from notifier.dispatch.group import GroupCommit
from notifier.dispatch.record import Answer, Begin, End, Job, Lost, Recorder
from notifier.domain import (
    Channel,
    EmailMessage,
    Facts,
    Kind,
    Message,
    Outgoing,
    Purpose,
    ShopCall,
    WebhookCall,
)
from notifier.errors import DeliveryError, TemplateError
from notifier.escalation.handover import email_from_payload
from notifier.offers import OfferService
from notifier.offers.service import Reservation
from notifier.pacing import RateLimiter
from notifier.runtime import Runtime
from notifier.store import outbox
from notifier.store.db import run_write, transaction
from notifier.store.tables import Notification
from notifier.testsend import from_payload
from notifier.track.links import Tracked, link_token, open_token, rewrite
from notifier.track.surveys import survey_links
from notifier.track.tokens import sign
from notifier.track.verp import return_path
from notifier.transit.model import TransitModel

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class _NotSent(Exception):
    """A message that cannot be made: its row ends with ``finish`` instead (offer voided)."""

    def __init__(self, finish: Finish) -> None:
        super().__init__(finish.reason)
        self.finish = finish


#: A claimed row this worker will not see through because it is stopping: handed back.
HANDED_BACK = Finish("pending", "handed back by a stopping worker")


class Dispatcher:
    """Sends what is due as of ``now``; one instance per worker process."""

    def __init__(self, runtime: Runtime, *, rules: Callable[[], RuleSet], composer: Composer,
                 channels: Mapping[str, ChannelBase], owner: str | None = None,
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
        self.samples_render: dict[tuple[str, str], bool] = {}
        self.policy = RetryPolicy(self.delivery.max_attempts, self.delivery.backoff_base_s,
                                  self.delivery.backoff_max_s, self.delivery.on_unknown)
        self.limits = self._rate_limits()
        self.shop = ShopView.from_settings(self.settings.shop)
        self.offers = offers
        self.gestures = Gestures(runtime, rules=rules, offers=offers)
        self.caps = {purpose: (cap.count, cap.window)
                     for purpose, cap in self.delivery.frequency_caps.items() if cap is not None}
        # Set by stop(); checked before each render, so a stopping worker waits for at
        # most one render (up to its sandbox budget).
        self.stopping = threading.Event()
        self.recorder = Recorder(runtime, owner=self.owner, gestures=self.gestures,
                                 policy=self.policy, channels=channels,
                                 lease=timedelta(seconds=self.delivery.lease_s))

    def _rate_limits(self) -> dict[str, RateLimiter]:
        """Each channel's declared budget, unless ``delivery.rate_limits`` names its own."""
        out: dict[str, RateLimiter] = {}
        for kind, channel in self.channels.items():
            configured = self.delivery.rate_limits.get(str(kind))
            if configured is not None:
                limiter = RateLimiter.per_second(configured)
            elif channel.rate_limit is not None:
                limiter = RateLimiter(channel.rate_limit[0], window_s=channel.rate_limit[1])
            else:
                limiter = None
            if limiter is not None:
                out[str(kind)] = limiter
        return out

    def stop(self) -> None:
        """Finish what is in flight, hand back the rest: checked between messages, so a
        batch of slow renders (each up to its sandbox budget) does not delay SIGTERM."""
        self.stopping.set()

    def close(self) -> None:
        """Stop (after the last pass)."""
        self.stop()

    async def run(self, now: datetime) -> Counter[str]:
        """Claim up to ``batch_size`` due rows and see each to its next state.

        Deciding is done for the whole batch at once (a handful of queries, not a handful
        per row), and the outcomes that need no provider commit together; the offers of
        the sends are reserved in one transaction; then the sends run concurrently, their
        messages rendered up to one per slot ahead of them, each attempt begun just before
        its call (never ahead) and completed as
        soon as the provider answers, the writes of concurrent sends grouped into one
        commit every ``delivery.commit_window_ms``.
        """
        if self.stopping.is_set():
            return Counter()
        lease = timedelta(seconds=self.delivery.lease_s)
        ids = await asyncio.to_thread(self._claim, now, lease)
        if not ids:
            return Counter()
        batch, plans = await asyncio.to_thread(self._decide, ids, now)
        finishes = {i: p for i, p in plans.items() if isinstance(p, Finish)}
        outcome: Counter[str] = Counter(await asyncio.to_thread(self._commit, finishes, now))
        sends = {i: p for i, p in plans.items() if isinstance(p, Send)}
        offered = {i: p for i, p in sends.items() if p.render is not None}
        reserved = await asyncio.to_thread(self._reserve, batch, offered, now) if offered else {}
        for i in offered.keys() - reserved.keys():
            # A failed reservation: no attempt begun, the row is retaken when its lease ends.
            del sends[i]
            outcome["error"] += 1
        group: GroupCommit[Job] = GroupCommit(
            self.recorder.write, window_s=self.delivery.commit_window_ms / 1000,
            run=partial(run_write, self.runtime.sessions))
        gate = asyncio.Semaphore(self.delivery.concurrency)
        # Messages are made up to one per slot ahead of the sends: a slot that frees up
        # finds its next message rendered. Attempts are still begun only in a slot, just
        # before the call.
        ahead = asyncio.Semaphore(2 * self.delivery.concurrency)

        async def one(notification_id: int, plan: Send) -> None:
            try:
                async with ahead:
                    made = self._made(batch, notification_id, plan,
                                      reserved.get(notification_id))
                    if isinstance(made, Finish):
                        answered = group.post(End(notification_id, made, now))
                    else:
                        async with gate:
                            answered = await self._send(group, notification_id, made, now)
                # Outside ``ahead``: a message whose answer is only waiting for its commit
                # no longer keeps the next one from being rendered.
                outcome[str(await answered)] += 1
            except Exception:  # one bad row must not stop the batch
                log.exception("dispatch of notification %s failed", notification_id)
                outcome["error"] += 1

        renewer = asyncio.create_task(self._renew(list(sends), lease))
        try:
            await asyncio.gather(*(one(i, p) for i, p in sends.items()))
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            await group.drain()
        await asyncio.to_thread(self._count, ids)
        outcome = +outcome  # drop zero counts
        log.info("dispatch at %s: %s", now.isoformat(), dict(outcome))
        return outcome

    def _count(self, ids: list[int]) -> None:
        """Each notification of the pass, by where it ended up, for ``/metrics``."""
        with self.runtime.sessions() as session:
            for rule, channel, status, n in outbox.statuses_of(session, ids):
                self.runtime.metrics.notification(rule, channel, status, n)

    async def _renew(self, ids: list[int], lease: timedelta) -> None:
        """Extend the batch's leases every third of a lease while it is still sending."""
        while ids:
            await asyncio.sleep(lease.total_seconds() / 3)
            until = self.runtime.clock() + lease
            with contextlib.suppress(Exception):  # a missed renewal only risks a retake
                await asyncio.to_thread(self._renew_once, ids, until)

    def _renew_once(self, ids: list[int], until: datetime) -> None:
        with transaction(self.runtime.sessions) as session:
            outbox.renew_leases(session, ids=ids, owner=self.owner, until=until)

    def _claim(self, now: datetime, lease: timedelta) -> list[int]:
        # The lease runs from the present, not from the pass's ``now``: a pass of many
        # batches must not hand out leases that have already run out (another worker
        # would take the rows at once). With a frozen clock (tests) both are the same.
        start = max(now, self.runtime.clock())
        with transaction(self.runtime.sessions) as session:
            return outbox.claim(session, now=now, owner=self.owner, lease=lease,
                                limit=self.delivery.batch_size, lease_from=start)

    # -- deciding (reads only) -------------------------------------------------------

    def _decide(self, ids: list[int], now: datetime
                ) -> tuple[Batch, dict[int, Finish | Send]]:
        with self.runtime.sessions() as session:
            batch = Batch.load(session, ids, now, caps=self.caps, transit=self.transit())
        plans: dict[int, Finish | Send] = {}
        for nid in ids:
            n = batch.notifications.get(nid)
            if self.stopping.is_set():  # deciding renders: a runaway one takes its budget
                plans[nid] = HANDED_BACK
            else:
                plans[nid] = (Finish("skipped", "notification vanished") if n is None
                              else self._decide_one(batch, n, now))
        return batch, plans

    def _decide_one(self, batch: Batch, n: Notification, now: datetime) -> Finish | Send:
        lost = batch.open_attempts.get(n.id or 0)
        number = max(n.attempts, lost.number if lost else 0) + 1
        if lost is not None:
            error = DeliveryError(
                f"worker lost during attempt {lost.number} on {lost.channel} (started "
                f"{lost.started_at.isoformat()}); its lease ran out with no provider answer",
                permanent=False, code="lease-expired", unknown=True)
            channel = self.channels.get(lost.channel)
            verdict = after_failure(number - 1, error, [], now, policy=self.policy,
                                    idempotent=bool(channel and channel.idempotent))
            if not isinstance(verdict, Retry):
                status = "held" if isinstance(verdict, Hold) else "failed"
                return Finish(status, verdict.reason, close_attempt=lost.id)
        plan = self._plan(batch, n, now) if n.kind == Kind.MESSAGE else self._plan_call(n)
        if isinstance(plan, Send):
            plan.attempt_number = number
            plan.close_attempt = lost.id if lost else None
            return plan
        return replace(plan, close_attempt=lost.id if lost else None)

    def _plan_call(self, n: Notification) -> Finish | Send:
        """A row queued for the shop or support: the message is in its payload."""
        payload = n.payload or "{}"
        if n.kind == Kind.SUPPORT:
            outgoing = Outgoing(n.key, email_from_payload(payload))
            channel = Channel.EMAIL.value
        elif n.kind == Kind.WEBHOOK:
            outgoing = Outgoing(n.key, WebhookCall(target=n.recipient or "", event=n.template,
                                                   body=payload, delivery_id=n.id or 0))
            channel = "webhook"
        elif n.kind == Kind.SHOPIFY:
            data = json.dumps(json.loads(payload).get("data", {}))
            outgoing = Outgoing(n.key, ShopCall(operation=n.template, data=data,
                                                delivery_id=n.id or 0))
            channel = "shopify"
        elif n.kind == Kind.TEST:
            outgoing = Outgoing(n.key, from_payload(payload))
            channel = n.channel or ""
        else:
            return Finish("failed", f"unknown outbox kind {n.kind!r}")
        if channel not in self.channels:
            return Finish("failed", f"no {channel} channel configured")
        return Send(channel, outgoing, n.recipient or "")

    def _plan(self, batch: Batch, n: Notification, now: datetime) -> Finish | Send:
        rule = self.rules().get(n.rule)
        if rule is None or n.step >= len(rule.steps):
            return Finish("skipped", f"rule {n.rule!r} step {n.step} is no longer loaded")
        # Switched in the console after this was detected: paused sends nothing,
        # dry-run records without sending.
        if rule.mode == "paused":
            return Finish("skipped", "rule paused")
        if rule.dry_run:
            return Finish("dry_run", "rule in dry-run mode: recorded, not sent")
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
        plan = self._route(batch, n, rule, facts, now)
        if isinstance(plan, Finish) and plan.status in ("pending", "held_out", "dry_run"):
            return plan  # deferred: escalation is decided again when it is due
        reason = self.gestures.escalation_reason(n, facts, now)
        if reason is None:
            return plan
        if isinstance(plan, Finish):
            return replace(plan, escalate=f"{reason}; the customer was not contacted: "
                                          f"{plan.reason}")
        plan.escalate = reason
        return plan

    def _route(self, batch: Batch, n: Notification, rule: Rule, facts: Facts,
               now: datetime) -> Finish | Send:
        ctx = self._context(rule, facts, now, n)
        consents = batch.consents.get(facts.customer.id, {}) if facts.customer else {}
        failed = batch.failed.get(n.id or 0, set())
        reasons = [f"{c}: failed permanently before" for c in n.channels if c in failed]
        transliterate = rule.steps[n.step].transliterate
        offer = self.gestures.wants_offer(n)
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
            # A fallback says why the earlier channels were passed over (a hard bounce...).
            passed_over = "; ".join(reasons) or None
            survey = rule.steps[n.step].survey
            if offer:  # rendered once the offer is reserved, in the send's transaction
                send = Send(name, None, address, offers=True, note=passed_over, survey=survey,
                            render=Render(n.template, channel, ctx, transliterate, offer))
            else:
                try:
                    message = self.composer.render(n.template, channel, ctx,
                                                   transliterate=transliterate)
                except RecipientError as exc:
                    reasons.append(f"{name}: {exc}")
                    continue
                except TemplateError as exc:
                    return self._unrenderable(rule, n, channel, exc)
                tracked = self._track(n, rule, message)
                send = Send(name, Outgoing(f"{n.key}:{name}", tracked.message), address,
                            offers=True, note=passed_over, links=tracked.urls, survey=survey)
            if facts.customer is not None:  # counts towards the cap for the rest of the batch
                batch.sent.setdefault((facts.customer.id, rule.purpose.value), []).append(now)
            return send
        return Finish("skipped", "; ".join(reasons) or "no channel configured for this rule")

    def _unrenderable(self, rule: Rule, n: Notification, channel: Channel,
                      exc: TemplateError) -> Finish:
        """A render failure fails this message only, unless the template also fails for
        the shipped samples: then it is broken for everyone and its step is disabled."""
        if (rule.name, n.step) in self.disabled:  # another message of the batch found it
            return Finish("skipped", f"step disabled: {self.disabled[(rule.name, n.step)]}",
                          void=True)
        if self._renders_samples(n.template, channel):
            return Finish("failed", f"cannot render this message (its data): {exc}", void=True)
        self.disabled[(rule.name, n.step)] = f"template error: {exc}"
        log.error("rule %s step %d disabled: %s", rule.name, n.step, exc)
        return Finish("failed", f"template error, step disabled: {exc}", void=True)

    def _renders_samples(self, template: str, channel: Channel) -> bool:
        key = (template, channel.value)
        if key not in self.samples_render:
            ctx = sample_context(template, self.settings.shop.default_locale,
                                 self.settings.shop)
            try:
                self.composer.render(template, channel, ctx)
                self.samples_render[key] = True
            except (TemplateError, RecipientError):
                self.samples_render[key] = False
        return self.samples_render[key]

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

    # -- acting: outcomes without a provider, together -------------------------------

    def _commit(self, finishes: dict[int, Finish], now: datetime) -> list[str]:
        if not finishes:
            return []
        with transaction(self.runtime.sessions) as session:
            return [self.recorder.finish(session, nid, plan, now)
                    for nid, plan in finishes.items()]

    # -- acting: offers and the messages that carry them -----------------------------

    def _reserve(self, batch: Batch, plans: dict[int, Send], now: datetime
                 ) -> dict[int, Reservation]:
        """The offers of a batch's sends: one transaction for every policy without a
        budget or a code pool (customers locked in id order, so concurrent workers
        cannot deadlock), one per reservation for the others."""
        def customer(nid: int) -> int:
            n = batch.notifications[nid]
            facts = batch.facts[(n.entity_kind, n.entity_id)]
            return facts.customer.id if facts.customer else 0

        ordered = sorted(plans, key=customer)
        shared = [nid for nid in ordered if self.gestures.shares_transaction(
            plans[nid].render.offer if plans[nid].render else "")]
        together = set(shared)
        groups = ([shared] if shared else []) + [[nid] for nid in ordered if nid not in together]
        out: dict[int, Reservation] = {}
        for group in groups:  # a failed group is appended again, one reservation each
            try:
                out.update(self._reserve_group(batch, plans, group, now))
            except Exception:
                if len(group) == 1:
                    log.exception("offer reservation for notification %s failed", group[0])
                    continue
                log.warning("reserving %d offers together failed; reserving each alone",
                            len(group), exc_info=True)
                groups.extend([nid] for nid in group)
        return out

    def _reserve_group(self, batch: Batch, plans: dict[int, Send], group: list[int],
                       now: datetime) -> dict[int, Reservation]:
        wanted = []
        for nid in group:
            n, render = batch.notifications[nid], plans[nid].render
            assert render is not None
            wanted.append((n, render.offer, batch.facts[(n.entity_kind, n.entity_id)]))
        with transaction(self.runtime.sessions) as session:
            return self.gestures.reserve_many(session, wanted, now)

    def _make(self, n: Notification, plan: Send, reservation: Reservation) -> Send | Finish:
        """The message of an offer-carrying send, rendered with its reserved offer, or
        the row's end when it cannot be made (the offer then voided); handed back
        unrendered once the worker is stopping (the offer stays reserved for the retry)."""
        if self.stopping.is_set():
            return HANDED_BACK
        try:
            return self._render_with_offer(n, plan, reservation)
        except _NotSent as stop:
            return replace(stop.finish, void=True)

    def _render_with_offer(self, n: Notification, plan: Send,
                           reservation: Reservation) -> Send:
        render = plan.render
        assert render is not None
        if (n.rule, n.step) in self.disabled:  # broken by another message of this batch
            raise _NotSent(Finish("skipped", f"step disabled: {self.disabled[(n.rule, n.step)]}"))
        escalate = plan.escalate
        if reservation.escalate:
            escalate = escalate or f"offer not possible: {reservation.reason}"
        ctx = replace(render.ctx, offer=reservation.offer)
        try:
            message = self.composer.render(render.template, render.channel, ctx,
                                           transliterate=render.transliterate)
        except (TemplateError, RecipientError) as exc:
            rule = self.rules().get(n.rule)
            if isinstance(exc, RecipientError) or rule is None:
                raise _NotSent(Finish("failed", f"{render.channel.value}: {exc}")) from exc
            raise _NotSent(self._unrenderable(rule, n, render.channel, exc)) from exc
        note = reservation.reason if reservation.offer is None and reservation.reason else None
        rule = self.rules().get(n.rule)
        tracked = self._track(n, rule, message) if rule is not None else Tracked(message, ())
        why = "; ".join(p for p in (plan.note, note) if p) or None
        return replace(plan, outgoing=Outgoing(f"{n.key}:{plan.channel}", tracked.message),
                       render=None, note=why, links=tracked.urls, escalate=escalate)

    # -- acting: sends -----------------------------------------------------------------

    def _made(self, batch: Batch, notification_id: int, plan: Send,
              reservation: Reservation | None) -> Send | Finish:
        """The send with its message: rendered here, on the event loop, if its offer was
        just reserved, or the row's end when it cannot be made or the worker is stopping.
        (Renders are CPU work under the interpreter lock: a render thread gained nothing
        and traded the lock with the sends, which cost more CPU than it spared.)"""
        if plan.render is None:
            return plan
        if self.stopping.is_set():  # the offer stays reserved for the retry
            return HANDED_BACK
        assert reservation is not None
        return self._make(batch.notifications[notification_id], plan, reservation)

    async def _send(self, group: GroupCommit[Job], notification_id: int, plan: Send,
                    now: datetime) -> asyncio.Future[object]:
        """Begin the attempt (committed before the call, so a crash leaves a "sending"
        attempt exactly where a message may or may not have reached the provider), call
        the provider, queue its answer; returns the answer's pending commit."""
        if self.stopping.is_set():  # the offer, if reserved, stays for the retry
            return group.post(End(notification_id, HANDED_BACK, now))
        try:
            attempt_id = await group.submit(Begin(notification_id, plan, now))
        except Lost:
            log.warning("notification %s: claim lost before sending (lease ran out and "
                        "another worker took it); not sent here", notification_id)
            return _done("lost claim")
        assert isinstance(attempt_id, int)
        limiter = self.limits.get(plan.channel)
        if limiter is not None:
            await limiter.acquire()
        assert plan.outgoing is not None
        started = time_.perf_counter()
        try:
            result = await self.channels[plan.channel].send(plan.outgoing)
        except DeliveryError as exc:
            seconds = time_.perf_counter() - started
            self.runtime.metrics.provider_error(plan.channel, seconds, permanent=exc.permanent)
            if exc.retry_after and limiter is not None:
                limiter.pause(exc.retry_after)
            return group.post(Answer(notification_id, attempt_id, plan, now,
                                     int(seconds * 1000), error=exc))
        seconds = time_.perf_counter() - started
        self.runtime.metrics.sent(plan.channel, seconds)
        return group.post(Answer(notification_id, attempt_id, plan, now, int(seconds * 1000),
                                 provider_id=result.provider_id))


def _done(outcome: str) -> asyncio.Future[object]:
    future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    future.set_result(outcome)
    return future
