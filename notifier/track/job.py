"""The track stage's periodic step: :meth:`Tracker.run` as of a given ``now``.

One transaction derives the outcomes of recently written orders (see
:mod:`notifier.track.conversions`); another hands low survey answers to a person through
the escalation path (recorded once per message; its support email and helpdesk webhook
are outbox rows, committed with it, that the dispatcher sends).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from notifier.escalation import build_escalation, enqueue_escalation
from notifier.reports.rollup import refresh
from notifier.runtime import Runtime
from notifier.store.db import transaction
from notifier.store.tables import Notification
from notifier.track.conversions import Windows, track_orders
from notifier.track.imap import BounceMailbox
from notifier.track.surveys import due_escalations, escalation_reason


class Tracker:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.windows = Windows(dict(runtime.settings.track.attribution_hours))
        bounces = runtime.settings.email.bounces
        self.mailbox = (BounceMailbox(bounces, secret=runtime.settings.server.secret_key
                                      .get_secret_value()) if bounces.enabled else None)

    def run(self, now: datetime) -> Counter[str]:
        with transaction(self.runtime.sessions) as session:
            done = track_orders(session, now=now, windows=self.windows)
        done["escalated"] += self.escalate_answers(now)
        # The reports' daily roll-up: late conversions and clicks on closed days applied,
        # the days closed since the last run added (#14, #15).
        done.update(refresh(self.runtime.sessions, timezone=self.settings.shop.timezone,
                            now=now))
        return +done

    def escalate_answers(self, now: datetime) -> int:
        config = self.settings.escalation
        handed = 0
        with transaction(self.runtime.sessions) as session:
            for answer in due_escalations(session, now=now, settings=self.settings.track.survey):
                n = session.get(Notification, answer.notification_id)
                answer.escalated_at = now
                session.add(answer)
                if n is None:
                    continue
                case = build_escalation(session, notification=n, now=now,
                                        reason=escalation_reason(answer),
                                        timeline_limit=config.timeline_limit,
                                        incident_window=config.incident_window)
                handover = enqueue_escalation(session, case, self.settings, now)
                if handover.created:
                    handed += 1
        return handed
