"""What the dispatcher writes around the provider calls, a group of sends at a time.

A send writes its attempt (``sending``) before the call and the provider's answer after
it. The dispatcher queues those writes as jobs (:class:`Begin`, :class:`Answer`,
:class:`End`) on a :class:`~notifier.dispatch.group.GroupCommit`; :meth:`Recorder.write`
commits a group in one transaction, the attempts of its begins in one statement. When
the group's transaction fails, each job is written again alone, so one bad row fails
only itself.

Attempts are begun as sends start (at most ``delivery.concurrency`` open at a time per
worker), not for the whole batch up front: an open attempt after a crash means "the
provider may have it" (``delivery.on_unknown`` holds or resends it), which must stay true
of every open attempt, or a crash would hold messages that never left.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from notifier.deliver.base import ChannelBase
from notifier.deliver.policies import Fail, FallBack, Hold, Retry, RetryPolicy, after_failure
from notifier.dispatch.batch import Finish, Send
from notifier.dispatch.gestures import Gestures
from notifier.errors import DeliveryError
from notifier.runtime import Runtime
from notifier.store import outbox
from notifier.store.db import WRITE_LOCK, transaction
from notifier.store.tables import Notification
from notifier.track.clicks import store_links

log = logging.getLogger(__name__)


class Lost(Exception):
    """The row's lease ran out and another worker holds it now: leave it alone."""


@dataclass(frozen=True)
class Begin:
    """Begin the attempt of ``plan`` (its links, survey, hand-over, lost attempt closed)."""

    notification_id: int
    plan: Send
    now: datetime


@dataclass(frozen=True)
class Answer:
    """The provider's answer to ``attempt_id``: ``provider_id`` when sent, else ``error``."""

    notification_id: int
    attempt_id: int
    plan: Send
    now: datetime
    took_ms: int
    provider_id: str | None = None
    error: DeliveryError | None = None


@dataclass(frozen=True)
class End:
    """A row ends (or is handed back) without a call: a render failure, a stopping worker."""

    notification_id: int
    finish: Finish
    now: datetime


Job = Begin | Answer | End


class Recorder:
    """Writes jobs for one worker (``owner``); results are attempt ids for begins and
    outcomes (``sent``, ``retry``, ``failed``, ``held``...) for answers and ends."""

    def __init__(self, runtime: Runtime, *, owner: str, gestures: Gestures,
                 policy: RetryPolicy, channels: Mapping[str, ChannelBase],
                 lease: timedelta) -> None:
        self.runtime = runtime
        self.owner = owner
        self.gestures = gestures
        self.policy = policy
        self.channels = channels
        self.lease = lease
        self._sqlite = runtime.engine.dialect.name == "sqlite"
        self._write_lock = runtime.sessions.kw.get("info", {}).get(WRITE_LOCK)

    def _write_plain(self, jobs: list[Job]) -> list[object]:
        """A group of plain begins and sent answers (what nearly every group is) on
        SQLite: what :meth:`_apply` writes, through the store's functions on the driver's
        cursor, in one ``BEGIN IMMEDIATE`` transaction under the same write lock. Through
        a session they cost about 1 ms of CPU more per group than SQLite itself did.
        """
        begins = [(i, j) for i, j in enumerate(jobs) if isinstance(j, Begin)]
        sent = [j for j in jobs if isinstance(j, Answer)]
        out: list[object] = ["sent"] * len(jobs)
        raw = self.runtime.engine.raw_connection()
        try:
            with self._write_lock or nullcontext():
                cur = raw.driver_connection.cursor()
                cur.execute("BEGIN IMMEDIATE")
                try:
                    if sent:
                        outbox.record_sent_sqlite(cur, _sent_rows(sent))
                    if begins:
                        self._begin_plain(cur, begins, out)
                    cur.execute("COMMIT")
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                finally:
                    cur.close()
        finally:
            raw.close()
        return out

    def _begin_plain(self, cur: Any, begins: list[tuple[int, Begin]],
                     out: list[object]) -> None:
        ours = outbox.renew_leases_of_sqlite(cur, ids=[b.notification_id for _, b in begins],
                                             owner=self.owner, until=self._until(begins))
        starting = [(i, b) for i, b in begins if b.notification_id in ours]
        for i, b in begins:
            if b.notification_id not in ours:
                out[i] = Lost(b.notification_id)
        if not starting:
            return
        attempts = outbox.begin_attempts_sqlite(cur, _begin_rows(starting))
        for i, b in starting:
            out[i] = attempts[b.notification_id]

    def _until(self, begins: list[tuple[int, Begin]]) -> datetime:
        """The lease a group of begins renews: past the latest of them and of now."""
        return max(max(b.now for _, b in begins), self.runtime.clock()) + self.lease

    def write(self, jobs: list[Job]) -> list[object]:
        """Commit ``jobs`` together; if that fails, each alone (its failure its result)."""
        if self._sqlite and all(_plain(job) for job in jobs):
            try:
                return self._write_plain(jobs)
            except Exception:  # written again below, the general way (and then alone)
                log.warning("a group of %d dispatch writes failed on the driver; writing it "
                            "again", len(jobs), exc_info=True)
        try:
            with transaction(self.runtime.sessions) as session:
                return self._apply(session, jobs)
        except Exception:
            if len(jobs) == 1:
                log.exception("dispatch write failed")
                return [_failure(jobs[0])]
            log.warning("a group of %d dispatch writes failed; writing each alone", len(jobs),
                        exc_info=True)
        results: list[object] = []
        for job in jobs:
            try:
                with transaction(self.runtime.sessions) as session:
                    results.extend(self._apply(session, [job]))
            except Exception:
                log.exception("dispatch write for notification %s failed", job.notification_id)
                results.append(_failure(job))
        return results

    def _apply(self, session: Session, jobs: list[Job]) -> list[object]:
        out: dict[int, object] = {}
        sent = [(i, j) for i, j in enumerate(jobs) if isinstance(j, Answer) and j.error is None]
        if sent:
            outbox.record_sent(session, _sent_rows([j for _, j in sent]))
            out.update((i, "sent") for i, _ in sent)
        for i, job in enumerate(jobs):
            if isinstance(job, Answer) and job.error is not None:
                out[i] = self._failed(session, job, job.error)
            elif isinstance(job, End):
                out[i] = self.finish(session, job.notification_id, job.finish, job.now)
        begins = [(i, j) for i, j in enumerate(jobs) if isinstance(j, Begin)]
        if begins:
            out.update(self._begin(session, begins))
        return [out[i] for i in range(len(jobs))]

    def _begin(self, session: Session, begins: list[tuple[int, Begin]]) -> dict[int, object]:
        # Still ours? A lease that ran out (a stalled batch) may have been retaken by
        # another worker, which then sends it: this one must not.
        ours = outbox.renew_leases_of(session, ids=[b.notification_id for _, b in begins],
                                      owner=self.owner, until=self._until(begins))
        out: dict[int, object] = {}
        starting: list[tuple[int, Begin]] = []
        for i, b in begins:
            if b.notification_id not in ours:
                out[i] = Lost(b.notification_id)
                continue
            plan, nid = b.plan, b.notification_id
            if plan.close_attempt is not None:
                outbox.close_attempt(session, attempt_id=plan.close_attempt, outcome="unknown",
                                     now=b.now, error="worker lost mid-call; resent "
                                                      "(delivery.on_unknown = resend)")
            if plan.escalate:
                n = session.get(Notification, nid)
                if n is not None:
                    self.gestures.escalate(session, n, plan.escalate, b.now)
            store_links(session, notification_id=nid, urls=plan.links)
            if plan.survey:
                outbox.set_survey(session, notification_id=nid, kind=plan.survey)
            starting.append((i, b))
        if starting:
            attempts = outbox.begin_attempts(session, _begin_rows(starting))
            out.update((i, attempts[b.notification_id]) for i, b in starting)
        return out

    def finish(self, session: Session, notification_id: int, plan: Finish,
               now: datetime) -> str:
        """Write a plan that needs no provider (in the caller's transaction)."""
        n = session.get(Notification, notification_id)
        if n is None or (n.lease_owner not in (None, self.owner)):
            return plan.status
        if plan.close_attempt is not None:
            outbox.close_attempt(session, attempt_id=plan.close_attempt, outcome="unknown",
                                 now=now, error=plan.reason or "")
            n.attempts += 1
        n.status, n.reason = plan.status, plan.reason
        if plan.due_at is not None:
            n.due_at = plan.due_at
        n.lease_until = n.lease_owner = None
        session.add(n)
        if plan.void:
            self.gestures.void(session, n, plan.reason or "not sent", now)
        if plan.escalate:
            self.gestures.escalate(session, n, plan.escalate, now)
        return plan.status

    def _failed(self, session: Session, job: Answer, exc: DeliveryError) -> str:
        n = session.get(Notification, job.notification_id)
        if n is None:
            return "error"
        plan, now = job.plan, job.now
        channel = self.channels.get(plan.channel)
        left = (n.channels[n.channels.index(plan.channel) + 1:]
                if plan.channel in n.channels else [])
        verdict = after_failure(plan.attempt_number, exc, left, now, policy=self.policy,
                                idempotent=bool(channel and channel.idempotent))
        error = f"{exc.code or 'error'}: {exc.reason}"
        n.attempts = plan.attempt_number
        n.channel, n.recipient = plan.channel, plan.recipient
        n.lease_until = n.lease_owner = None
        outcome = {Retry: "retry", Hold: "unknown"}.get(type(verdict), "failed")
        outbox.finish_attempt(session, attempt_id=job.attempt_id, outcome=outcome, now=now,
                              error=error, duration_ms=job.took_ms)
        if isinstance(verdict, FallBack | Fail) and verdict.suppress is not None:
            outbox.suppress(session, channel=plan.channel, address=plan.recipient,
                            reason=verdict.suppress.reason, now=now,
                            purpose=verdict.suppress.purpose)
        if isinstance(verdict, Retry):
            n.status, n.due_at, n.reason = "pending", verdict.at, verdict.reason
        elif isinstance(verdict, FallBack):
            n.status, n.due_at = "pending", now
            n.reason = f"{plan.channel} {verdict.reason}"
        else:
            n.status, n.reason = ("held" if isinstance(verdict, Hold) else "failed",
                                  verdict.reason)
            if isinstance(verdict, Fail) and plan.offers:
                self.gestures.void(session, n, verdict.reason, now)
        session.add(n)
        return {"pending": "retry"}.get(n.status, n.status)


def _plain(job: Job) -> bool:
    """A job :meth:`Recorder._write_plain` writes: a begin with nothing to close, hand
    over, link or ask, or a sent answer."""
    if isinstance(job, Answer):
        return job.error is None
    if isinstance(job, Begin):
        plan = job.plan
        return (plan.close_attempt is None and not plan.escalate and not plan.links
                and not plan.survey)
    return False


def _sent_rows(sent: list[Answer]) -> list[dict[str, Any]]:
    """The rows of :func:`outbox.record_sent` for sent answers (both write paths)."""
    return [{"attempt_id": j.attempt_id, "notification_id": j.notification_id, "now": j.now,
             "channel": j.plan.channel, "recipient": j.plan.recipient,
             "provider_id": j.provider_id or "", "note": j.plan.note, "duration_ms": j.took_ms}
            for j in sent]


def _begin_rows(starting: list[tuple[int, Begin]]) -> list[dict[str, Any]]:
    """The rows of :func:`outbox.begin_attempts` for begins still ours (both write paths)."""
    return [{"notification_id": b.notification_id, "number": b.plan.attempt_number,
             "channel": b.plan.channel, "now": b.now} for _, b in starting]


def _failure(job: Job) -> object:
    """A job whose write failed: a begin does not send; an answer counts as an error
    (its attempt stays open, judged by ``on_unknown`` when the lease runs out)."""
    if isinstance(job, Begin):
        return RuntimeError(f"could not begin the attempt of notification {job.notification_id}")
    return "error"
