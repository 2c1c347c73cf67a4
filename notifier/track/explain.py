"""Answer "why did this customer (not) get it?" from the outbox and its attempts."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from notifier.store.outbox import attempts_of
from notifier.store.tables import Notification


def list_notifications(session: Session, *, status: str | None = None, rule: str | None = None,
                       customer_id: int | None = None, limit: int = 50) -> list[Notification]:
    stmt = select(Notification).order_by(col(Notification.id).desc()).limit(limit)
    if status:
        stmt = stmt.where(Notification.status == status)
    if rule:
        stmt = stmt.where(Notification.rule == rule)
    if customer_id is not None:
        stmt = stmt.where(Notification.customer_id == customer_id)
    return list(session.exec(stmt).all())


def describe(session: Session, notification_id: int) -> dict[str, Any] | None:
    """The notification with its whole attempt history, as plain data (API and CLI)."""
    n = session.get(Notification, notification_id)
    if n is None:
        return None
    return {
        "id": n.id, "key": n.key, "rule": n.rule, "step": n.step, "template": n.template,
        "entity": f"{n.entity_kind}:{n.entity_id}", "customer_id": n.customer_id,
        "purpose": n.purpose, "channels": n.channels, "channel": n.channel,
        "recipient": n.recipient, "status": n.status, "reason": n.reason,
        "due_at": n.due_at.isoformat(), "detected_at": n.detected_at.isoformat(),
        "sent_at": n.sent_at.isoformat() if n.sent_at else None,
        "delivered_at": n.delivered_at.isoformat() if n.delivered_at else None,
        "provider_id": n.provider_id, "attempts": [
            {"number": a.number, "channel": a.channel, "outcome": a.outcome,
             "started_at": a.started_at.isoformat(), "provider_id": a.provider_id,
             "error": a.error, "duration_ms": a.duration_ms}
            for a in attempts_of(session, notification_id=notification_id)
        ],
    }


def explain(session: Session, notification_id: int) -> str | None:
    data = describe(session, notification_id)
    if data is None:
        return None
    lines = [
        f"notification {data['id']} ({data['key']})",
        f"  rule {data['rule']} step {data['step']} template {data['template']} "
        f"for {data['entity']} customer {data['customer_id']} ({data['purpose']})",
        f"  status: {data['status']}" + (f" - {data['reason']}" if data["reason"] else ""),
        f"  detected {data['detected_at']}, due {data['due_at']}"
        + (f", sent {data['sent_at']} via {data['channel']} to {data['recipient']}"
           if data["sent_at"] else ""),
    ]
    for a in data["attempts"]:
        lines.append(f"  attempt {a['number']} {a['channel']} at {a['started_at']}: "
                     f"{a['outcome']}" + (f" ({a['error']})" if a["error"] else "")
                     + (f" id={a['provider_id']}" if a["provider_id"] else ""))
    return "\n".join(lines)
