"""SMSAPI.pl delivery reports and replies, recorded as receipts.

SMSAPI calls our ``notify_url`` with ``GET ?MsgId=&status=&idx=&donedate=&username=...``;
one call may carry several reports as comma-separated lists. Each final status becomes one
``receipt_events`` row (``(smsapi, "<MsgId>:<status>")`` is unique, so a repeated call adds
nothing) and moves the notification: 404 delivered; 402, 405, 406, 407 undelivered or
failed; 412 (the send was stopped on SMSAPI's side) failed. Intermediate statuses (403
sent, 409 queued, 410 accepted, 411 retrying) change nothing. A recipient's opt-out reaches
us as error 57 at send time (the number is on the account's blacklist) or as a STOP reply.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from notifier.store.db import transaction
from notifier.store.tables import Notification
from notifier.store.track_tables import ReceiptEvent

log = logging.getLogger(__name__)

# status -> (notification status, receipt kind, reason)
FINAL = {
    404: ("delivered", "delivered", ""),
    402: ("undelivered", "bounced", "expired: the phone was unreachable too long"),
    405: ("undelivered", "bounced", "undelivered (wrong or unreachable number)"),
    406: ("failed", "bounced", "failed at the gateway"),
    407: ("failed", "bounced", "rejected by the operator"),
    412: ("failed", "bounced", "sending stopped at SMSAPI (STOP)"),
}


@dataclass(frozen=True)
class Report:
    msg_id: str
    status: int
    idx: str
    done_at: datetime | None
    to: str = ""


def parse_reports(params: dict[str, str]) -> list[Report]:
    """The reports in one callback; raises ValueError naming the parameter that is wrong."""
    ids = params.get("MsgId", "").split(",")
    statuses = params.get("status", "").split(",")
    if not ids or not ids[0]:
        raise ValueError("MsgId: missing")
    if len(statuses) != len(ids):
        raise ValueError("status: one per MsgId")
    idxs = _column(params, "idx", len(ids))
    dones = _column(params, "donedate", len(ids))
    tos = _column(params, "to", len(ids))
    reports = []
    for i, msg_id in enumerate(ids):
        if not statuses[i].strip().isdigit():
            raise ValueError(f"status: {statuses[i]!r} is not a status code")
        done = dones[i].strip()
        reports.append(Report(
            msg_id=msg_id.strip(), status=int(statuses[i]), idx=idxs[i].strip(),
            done_at=datetime.fromtimestamp(int(done), UTC) if done.isdigit() else None,
            to=tos[i].strip()))
    return reports


def _column(params: dict[str, str], name: str, size: int) -> list[str]:
    values = params.get(name, "").split(",")
    return values if len(values) == size else [values[0] if size == 1 else ""] * size


def record_reports(factory: sessionmaker[Session], *, reports: list[Report],
                   now: datetime) -> int:
    """Apply the reports; returns how many changed a notification."""
    changed = 0
    with transaction(factory) as session:
        for report in reports:
            changed += _apply(session, report, now)
    return changed


def _apply(session: Session, report: Report, now: datetime) -> int:
    final = FINAL.get(report.status)
    if final is None:
        return 0
    wanted = [report.msg_id] + ([f"idx:{report.idx}"] if report.idx else [])
    n = session.exec(select(Notification)
                     .where(col(Notification.provider_id).in_(wanted))).first()
    event_id = f"{report.msg_id}:{report.status}"
    if session.exec(select(ReceiptEvent).where(ReceiptEvent.provider == "smsapi",
                                               ReceiptEvent.event_id == event_id)).first():
        return 0
    status, kind, reason = final
    at = report.done_at or now
    session.add(ReceiptEvent(
        provider="smsapi", event_id=event_id, notification_id=n.id if n else None, kind=kind,
        status=str(report.status), address=report.to or (n.recipient if n else None),
        message_id=report.msg_id, detail=reason or None, occurred_at=at, received_at=now,
        payload=json.dumps({"MsgId": report.msg_id, "status": report.status,
                            "idx": report.idx})))
    if n is None:
        log.info("smsapi report %s for unknown message %s", report.status, report.msg_id)
        return 0
    if n.provider_id != report.msg_id:
        n.provider_id = report.msg_id  # known by idx only until now
    n.status = status
    if status == "delivered":
        n.delivered_at, n.reason = at, None
    else:
        n.reason = f"SMSAPI reported {report.status}: {reason}"
        n.bounced_at = n.bounced_at or at
    session.add(n)
    return 1
