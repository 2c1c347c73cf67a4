"""The only place that chains the stages: detect what is due, then dispatch it.

    engine = build_engine(runtime)
    await engine.run_due(now)      # one detection-and-dispatch pass as of ``now``

The scheduler calls :meth:`Engine.detect` and :meth:`Engine.dispatch` on their own
intervals; ``notifier tick --now`` and tests call :meth:`Engine.run_due` with a chosen
moment. Nothing here sleeps or reads the clock itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from notifier.authoring.checks import template_exists
from notifier.authoring.files import Files, Kind
from notifier.authoring.published import PublishedSet
from notifier.authoring.publishing import disk_baseline, ensure_seeded, reload_from_files
from notifier.compose import Composer
from notifier.config import Settings
from notifier.connectors.baselinker_poller import build_baselinker_poller
from notifier.deliver.base import ChannelBase
from notifier.deliver.registry import build_channels, build_integrations, close_channels
from notifier.detect.overrides import Override, read_overrides
from notifier.detect.rules import TemplateExists
from notifier.detect.scan import ScanResult, scan
from notifier.dispatch import Dispatcher
from notifier.domain import Channel
from notifier.errors import RuleError
from notifier.offers import OfferService
from notifier.rulebook import RuleBook
from notifier.runtime import Runtime
from notifier.store.leases import take_lease
from notifier.track.job import Tracker
from notifier.transit.service import LEASE as TRANSIT_LEASE
from notifier.transit.service import ModelCache, refit

log = logging.getLogger(__name__)


@dataclass
class TickResult:
    scan: ScanResult
    dispatched: Counter[str] = field(default_factory=Counter)
    tracked: Counter[str] = field(default_factory=Counter)


@dataclass
class Published:
    """Where a worker's templates and rules come from: the published sets, as directories."""

    templates: PublishedSet
    rules: PublishedSet
    # What paths.templates_dir and rules_dir held at start: a reload publishes changes.
    baseline: dict[Kind, Files] = field(default_factory=dict)


class Engine:
    def __init__(self, runtime: Runtime, *, rules: RuleBook, composer: Composer,
                 channels: dict[Channel, ChannelBase], owner: str | None = None,
                 offers: OfferService | None = None, published: Published | None = None
                 ) -> None:
        self.runtime = runtime
        self.rules = rules
        self.composer = composer
        self.published = published
        self._refreshing = threading.Lock()  # detect and dispatch jobs run in threads
        # Customer channels as given, plus the webhooks and Shopify Admin API (one outbox:
        # the dispatcher sends support emails, webhooks and shop calls too).
        self.channels: dict[str, ChannelBase] = {
            **build_integrations(runtime.settings, clock=runtime.clock), **channels}
        self.offers = offers
        # Every worker predicts with the newest stored transit model (re-read on a new
        # version only); the dispatcher re-checks at-risk parcels with the same one.
        self.transit = ModelCache(runtime.sessions)
        self.dispatcher = Dispatcher(runtime, rules=rules, composer=composer,
                                     channels=self.channels, owner=owner, offers=offers,
                                     transit=self.transit.current)
        self.tracker = Tracker(runtime)
        # The BaseLinker poller guards its own position (a poll that finds it moved by
        # another worker steps aside), so every worker may run it.
        self.baselinker = (build_baselinker_poller(runtime)
                           if runtime.settings.baselinker.enabled else None)
        self._passes: set[asyncio.Task[object]] = set()  # dispatch passes running now

    async def detect(self, now: datetime) -> ScanResult:
        return await asyncio.to_thread(self._detect, now)

    def refresh(self) -> None:
        """Take up what was published since the last tick (templates, then the rules
        checked against them) and the console's rule switches; called at every tick."""
        with self._refreshing:
            if self.published is not None:
                directory = self.published.templates.directory()
                if directory != self.composer.templates_dir:
                    self._use_templates(directory)
                self.rules.switch(self.published.rules.directory())
            self.rules.refresh()

    def _use_templates(self, directory: Path) -> None:
        composer = _composer(self.runtime.settings, directory)
        composer.environment.preload()
        self.composer = self.dispatcher.composer = composer
        self.rules.template_exists = template_lookup(self.runtime.settings, composer)
        self.dispatcher.disabled.clear()  # a new version gets its steps back
        self.dispatcher.samples_render.clear()
        log.info("templates now from %s", directory)

    def _detect(self, now: datetime) -> ScanResult:
        self.refresh()
        found = scan(self.runtime.sessions, self.rules(), now, transit=self.transit.current())
        for (rule, status), n in found.created_by_rule.items():
            self.runtime.metrics.notification(rule, None, status, n)
        return found

    async def refit_transit(self, now: datetime, *, if_missing: bool = False) -> int | None:
        """Refit the transit model if this worker holds the refit lease (daily job); with
        ``if_missing``, only when none is stored yet (at start-up: a new install predicts
        the same day, not after the first night)."""
        return await asyncio.to_thread(self._refit_transit, now, if_missing)

    def _refit_transit(self, now: datetime, if_missing: bool = False) -> int | None:
        sessions = self.runtime.sessions
        if if_missing and self.transit.current() is not None:
            return None
        if not take_lease(sessions, TRANSIT_LEASE, owner=self.dispatcher.owner, now=now,
                          ttl=timedelta(hours=1)):
            return None
        return refit(sessions, self.runtime.settings, now=now)

    async def dispatch(self, now: datetime, *, max_batches: int = 100) -> Counter[str]:
        """Dispatch until nothing more is due as of ``now`` (bounded, so a tick ends).

        A permanent failure that falls back to the next channel is due at once, so the
        fallback goes out in the same pass, as do the support email, webhooks and shop
        calls a pass queues; retries and deferrals wait for their time.
        """
        total: Counter[str] = Counter()
        task = asyncio.current_task()
        if task is not None:
            self._passes.add(task)
        try:
            await asyncio.to_thread(self.refresh)
            for _ in range(max_batches):
                done = await self.dispatcher.run(now)
                total.update(done)
                if not done or self.dispatcher.stopping.is_set():
                    break
        finally:
            self._passes.discard(task)  # type: ignore[arg-type]
        return total

    async def track(self, now: datetime) -> Counter[str]:
        """The track stage's periodic work: orders credited to notifications, offers
        redeemed, carts recovered, low survey answers handed to a person (once; their
        support email and webhook are outbox rows the next dispatch sends)."""
        return await asyncio.to_thread(self.tracker.run, now)

    async def poll_bounces(self, now: datetime) -> Counter[str]:
        """Read the bounce mailbox (``[email.bounces]``) once, if there is one."""
        if self.tracker.mailbox is None:
            return Counter()
        return await asyncio.to_thread(self.tracker.mailbox.poll, self.runtime.sessions,
                                       now=now)

    async def run_due(self, now: datetime) -> TickResult:
        found = await self.detect(now)
        dispatched = await self.dispatch(now)
        tracked = await self.track(now)
        if tracked.get("escalated"):  # hand-overs queued by the track step go out now
            dispatched.update(await self.dispatch(now))
        return TickResult(found, dispatched, tracked)

    def reload(self) -> list[str]:
        """SIGHUP, ``notifier rules reload``: publish what was changed in
        ``paths.templates_dir`` and ``rules_dir`` since start (or the last reload), checked
        whole with the rest of the published set (``templates check``, ``rules check``, a
        non-empty rule set); then take it up at once. Returns the problems: when there
        are any nothing is published and every worker keeps the set it has.
        """
        if self.published is None:
            return ["this engine reads no published set"]
        problems, baseline = reload_from_files(
            self.runtime.sessions, self.runtime.settings, self.published.baseline,
            now=self.runtime.clock())
        if problems:
            log.error("reload refused, keeping %d rules and their templates:\n%s",
                      len(self.rules()), "\n".join(problems))
            return problems
        self.published.baseline = baseline
        self.refresh()
        with self._refreshing:  # templates read afresh; fixed ones get their steps back
            self._use_templates(self.composer.templates_dir)
        return []

    async def aclose(self, *, grace_s: float = 10.0) -> None:
        """Stop dispatching: a pass in progress hands back what it has not begun and is
        given ``grace_s`` to record the answers of the sends in flight (rather than
        leaving them unknown); then close the channels' connections."""
        self.dispatcher.stop()
        running = self._passes - {asyncio.current_task()}
        if running:
            await asyncio.wait(running, timeout=grace_s)
        self.dispatcher.close()
        await close_channels(self.channels)
        if self.baselinker is not None:
            await self.baselinker.aclose()


def _composer(settings: Settings, templates_dir: Path | None = None) -> Composer:
    return Composer(templates_dir or settings.paths.templates_dir, settings.shop,
                    from_addr=settings.email.from_,
                    sms_max_segments=settings.delivery.sms_max_segments)


def template_lookup(settings: Settings, composer: Composer | None = None) -> TemplateExists:
    """Whether a message name has a template on some channel in the shop's locale chain."""
    return template_exists(composer or _composer(settings), settings.shop.default_locale)


def load_rulebook(settings: Settings, composer: Composer | None = None) -> RuleBook:
    """The rules in ``paths.rules_dir``, checked against the templates that exist."""
    composer = composer or _composer(settings)
    return RuleBook(settings.paths.rules_dir, template_exists=template_lookup(settings, composer))


def build_engine(runtime: Runtime, *, channels: dict[Channel, ChannelBase] | None = None,
                 owner: str | None = None) -> Engine:
    """The engine on the published set (stored from ``templates/`` and ``rules/`` on the
    first start; a broken rule set is refused whole), with its channels."""
    settings = runtime.settings
    problems = ensure_seeded(runtime.sessions, settings, now=runtime.clock())
    if problems:
        raise RuleError(problems)
    parent = settings.paths.data_dir / "published"
    published = Published(PublishedSet(runtime.sessions, "template", parent),
                          PublishedSet(runtime.sessions, "rule", parent),
                          baseline=disk_baseline(settings))
    composer = _composer(settings, published.templates.directory())
    composer.environment.preload()
    rules = RuleBook(published.rules.directory(),
                     template_exists=template_lookup(settings, composer))
    rules.overrides = lambda: _overrides(runtime)
    offers = OfferService(settings) if settings.offers.enabled else None
    return Engine(runtime, rules=rules, composer=composer,
                  channels=channels if channels is not None else build_channels(settings),
                  owner=owner, offers=offers, published=published)


def _overrides(runtime: Runtime) -> dict[str, Override]:
    with runtime.sessions() as session:
        return read_overrides(session)
