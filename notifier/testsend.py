"""Test sends: the message a marketer previews, sent to an address they type.

A test send is an ordinary outbox row of kind ``test`` (so it has a lease, attempts and an
idempotency key like every delivery, and reports, which count ``message`` rows only, never
see it). The message is rendered by the editor and stored whole in the row's payload;
the dispatcher sends it as it is, through the configured transport, at its next pass.
It is marked as a test where a person sees it: ``[TEST]`` before the subject (email),
the SMS text and the push title, and an ``X-Notifier-Test`` header on email.

    row_id = queue_test(session, message=email, token=form_token, actor="ana@shop.pl",
                        actor_id=3, template="order_unshipped", now=now)

``token`` comes from the editor's form, so a double click queues one row; each user may
queue :data:`LIMIT` test sends per :data:`WINDOW` (:class:`RefusedTestSend` beyond).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from notifier.domain import (
    Channel,
    EmailMessage,
    Kind,
    PushMessage,
    PushSubscription,
    SmsMessage,
)
from notifier.errors import NotifierError
from notifier.store import audit, outbox

PREFIX = "[TEST] "
HEADER = "X-Notifier-Test"
LIMIT = 5
WINDOW = timedelta(minutes=10)
ORIGIN = "console_user"

TestMessage = EmailMessage | SmsMessage | PushMessage


class RefusedTestSend(NotifierError):
    """A test send was not queued: over the per-user limit, or nothing to send."""


def mark_as_test(message: TestMessage) -> TestMessage:
    """The message as it goes out as a test: ``[TEST]`` where a person reads it first."""
    if isinstance(message, EmailMessage):
        return replace(message, subject=PREFIX + message.subject,
                       headers=(*message.headers, (HEADER, "editor")))
    if isinstance(message, SmsMessage):
        return replace(message, body=PREFIX + message.body)
    return replace(message, title=PREFIX + message.title)


def to_payload(message: TestMessage) -> str:
    fields = {f.name: getattr(message, f.name) for f in dataclasses.fields(message) if f.init}
    if isinstance(message, PushMessage):
        fields["to"] = dataclasses.asdict(message.to)
    return json.dumps({"channel": message.channel.value, "message": fields},
                      ensure_ascii=False)


def from_payload(payload: str) -> TestMessage:
    """The message :func:`to_payload` stored (the dispatcher's side)."""
    data: dict[str, Any] = json.loads(payload)
    fields = data["message"]
    channel = Channel(data["channel"])
    if channel is Channel.EMAIL:
        fields["headers"] = tuple(tuple(h) for h in fields.get("headers", ()))
        return EmailMessage(**fields)
    if channel is Channel.SMS:
        return SmsMessage(**fields)
    fields["to"] = PushSubscription(**fields["to"])
    return PushMessage(**fields)


def recipient_of(message: TestMessage) -> str:
    return message.to.endpoint if isinstance(message, PushMessage) else message.to


def queue_test(session: Session, *, message: TestMessage, token: str, actor: str,
               actor_id: int, template: str, now: datetime) -> int:
    """Queue ``message`` (already marked) as a test send, in the caller's transaction;
    returns the outbox row's id (the same id again for the same ``token``)."""
    if not token:
        raise RefusedTestSend("no form token: reload the editor")
    key = f"test:{actor_id}:{token}"
    if outbox.find(session, key=key) is None:
        recent = outbox.count_since(session, kind=Kind.TEST.value, origin=(ORIGIN, actor_id),
                                    since=now - WINDOW)
        if recent >= LIMIT:
            minutes = int(WINDOW.total_seconds() // 60)
            raise RefusedTestSend(f"at most {LIMIT} test sends per {minutes} minutes")
        audit.record(session, actor=actor, action="template.test_send", target=template,
                     now=now, detail={"channel": message.channel.value,
                                      "to": recipient_of(message)})
    return outbox.enqueue(session, kind=Kind.TEST.value, channel=message.channel.value,
                          key=key, recipient=recipient_of(message), event=template,
                          payload=to_payload(message), now=now, origin=(ORIGIN, actor_id))
