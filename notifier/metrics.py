"""Prometheus metrics: what the engine does, for ``GET /metrics``. No customer data in any
label (rule, channel, status, source, topic, policy and error kind only); money and uplift
stay in the reports.

Counted where it happens, in the process that does it:

- ``notifier_events_received_total{source,topic,outcome}``: every inbound webhook or API
  record set, with what became of it (applied, stale, ignored, duplicate, rejected);
- ``notifier_notifications_total{rule,channel,status}``: notifications leaving a step of
  their life with a status: created by detection (``held_out``, ``skipped``,
  ``pending``, ...; channel empty), then after each dispatch pass (``sent``, ``failed``,
  ``skipped``, ``pending`` when deferred or retried);
- ``notifier_send_duration_seconds{channel}``: each provider call;
- ``notifier_provider_errors_total{channel,kind}``: failed provider calls, ``kind``
  ``permanent`` or ``transient``;
- ``notifier_ingest_batch_requests``: requests per group-commit batch of ingest (one
  transaction each, see ``ingest/group_commit.py``);
- ``notifier_ingest_batch_seconds``: how long each such batch took to apply and commit,
  which every request in it waited for (a slow disk's fsync shows here first);
- ``notifier_build_info{version,python}``: 1.

Read from the database at scrape time (so every worker's work counts, whichever process
is scraped): ``notifier_outbox_due`` (notifications due now and not yet sent),
``notifier_scheduler_lag_seconds`` (how long the oldest of them has waited),
``notifier_offers_issued_total{policy}`` and ``notifier_offers_redeemed_total{policy}``
(every code issued, voided ones included; redeemed ones).

Several processes (``notifier api`` behind workers, uvicorn ``--workers``, several
``notifier worker``) share counters through prometheus_client's multiprocess mode: set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by all of them *before* they
start (prometheus_client reads it at import) and any process's ``/metrics`` shows the sum.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from notifier import __version__
from notifier.store.offer_tables import Offer
from notifier.store.tables import Notification

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
# A batch's apply and durable commit: a few milliseconds, unless the disk stalls.
BATCH_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Provider calls take from a millisecond (file, local relay) to tens of seconds (a slow API).
SEND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """This process's counters, in a registry of its own (no global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("notifier_events_received", "Inbound events by outcome",
                              ["source", "topic", "outcome"], registry=r)
        self.notifications = Counter("notifier_notifications", "Notifications by status",
                                     ["rule", "channel", "status"], registry=r)
        self.send_duration = Histogram("notifier_send_duration_seconds",
                                       "Provider call duration", ["channel"],
                                       buckets=SEND_BUCKETS, registry=r)
        self.provider_errors = Counter("notifier_provider_errors", "Failed provider calls",
                                       ["channel", "kind"], registry=r)
        self.ingest_batches = Histogram("notifier_ingest_batch_requests",
                                        "Requests per group-commit batch of ingest",
                                        buckets=BATCH_BUCKETS, registry=r)
        self.ingest_batch_seconds = Histogram(
            "notifier_ingest_batch_seconds", "Apply and commit time of an ingest batch",
            buckets=BATCH_SECONDS_BUCKETS, registry=r)
        self.build_info = Gauge("notifier_build_info", "Version of this notifier",
                                ["version", "python"], registry=r, multiprocess_mode="max")
        self.build_info.labels(__version__, platform.python_version()).set(1)

    def event(self, source: str, topic: str, outcome: str) -> None:
        self.events.labels(source, topic, outcome).inc()

    def ingest_batch(self, requests: int, seconds: float) -> None:
        self.ingest_batches.observe(requests)
        self.ingest_batch_seconds.observe(seconds)

    def notification(self, rule: str, channel: str | None, status: str, n: int = 1) -> None:
        self.notifications.labels(rule, channel or "", status).inc(n)

    def sent(self, channel: str, seconds: float) -> None:
        self.send_duration.labels(channel).observe(seconds)

    def provider_error(self, channel: str, seconds: float, *, permanent: bool) -> None:
        self.send_duration.labels(channel).observe(seconds)
        self.provider_errors.labels(channel, "permanent" if permanent else "transient").inc()

    def exposition(self, sessions: sessionmaker[Session], now: datetime) -> bytes:
        """The text ``/metrics`` answers: this process's counters (or, in multiprocess
        mode, every process's), then the database gauges."""
        if os.environ.get(MULTIPROCESS_ENV):
            counters = CollectorRegistry()
            MultiProcessCollector(counters)
        else:
            counters = self.registry
        database = CollectorRegistry()
        database.register(_DatabaseCollector(sessions, now))
        return generate_latest(counters) + generate_latest(database)


class _DatabaseCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session], now: datetime) -> None:
        self.sessions, self.now = sessions, now

    def collect(self) -> Iterator[Metric]:
        n = Notification.__table__  # type: ignore[attr-defined]
        o = Offer.__table__  # type: ignore[attr-defined]
        due = sa.and_(n.c.status == "pending", n.c.due_at <= self.now)
        with self.sessions() as session:
            count, oldest = session.execute(
                sa.select(sa.func.count(), sa.func.min(n.c.due_at)).where(due)).one()
            offers = session.execute(
                sa.select(o.c.policy, sa.func.count(),
                          sa.func.sum(sa.case((o.c.status == "redeemed", 1), else_=0)))
                .group_by(o.c.policy)).all()
        yield GaugeMetricFamily("notifier_outbox_due", "Notifications due and not yet sent",
                                value=count)
        lag = 0.0
        if oldest is not None:
            lag = max(0.0, (self.now - _aware(oldest)).total_seconds())
        yield GaugeMetricFamily("notifier_scheduler_lag_seconds",
                                "How long the oldest due notification has waited", value=lag)
        issued = CounterMetricFamily("notifier_offers_issued", "Offer codes issued",
                                     labels=["policy"])
        redeemed = CounterMetricFamily("notifier_offers_redeemed", "Offer codes redeemed",
                                       labels=["policy"])
        for policy, total, used in offers:
            issued.add_metric([policy], total)
            redeemed.add_metric([policy], used or 0)
        yield issued
        yield redeemed


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
