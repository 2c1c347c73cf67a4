"""Escalation to a human: gather the whole case, hand it to the helpdesk and support inbox.

    esc = build_escalation(session, notification=n, reason="delay compensation exhausted",
                           now=now)
    handover = enqueue_escalation(session, esc, settings, now)   # email and webhook queued

:func:`is_repeat_incident` tells a second problem within the window from a first one.
"""

from notifier.escalation.case import Escalation, OfferSummary, build_escalation
from notifier.escalation.email import support_email
from notifier.escalation.handover import Handover, enqueue_escalation
from notifier.escalation.incidents import incident_entities, is_repeat_incident, prior_incidents
from notifier.escalation.timeline import TimelineEntry, timeline

__all__ = [
    "Escalation",
    "Handover",
    "OfferSummary",
    "TimelineEntry",
    "build_escalation",
    "enqueue_escalation",
    "incident_entities",
    "is_repeat_incident",
    "prior_incidents",
    "support_email",
    "timeline",
]
