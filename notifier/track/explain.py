"""Answer "why did this customer (not) get it?", and what came of it: the outbox row, its
attempts, and the outcomes the track stage recorded (receipts, clicks, conversion,
rating) with the provider events behind them."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from notifier.store.outbox import attempts_of
from notifier.store.tables import Notification, Order
from notifier.store.track_tables import LinkClick, ReceiptEvent, SurveyAnswer

OUTCOMES = ("delivered_at", "bounced_at", "complained_at", "unsubscribed_at", "deferred_at",
            "opened_at", "clicked_at", "converted_at")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def outcomes(session: Session, n: Notification) -> dict[str, Any]:
    """The outcome fields of ``GET /v1/notifications/{id}`` (and the timeline)."""
    order = session.get(Order, n.conversion_order) if n.conversion_order else None
    answer = session.exec(select(SurveyAnswer).where(
        SurveyAnswer.notification_id == n.id)).first()
    return {
        **{name: _iso(getattr(n, name)) for name in OUTCOMES},
        "bounce_kind": n.bounce_kind, "clicks": n.clicks,
        "conversion_order": n.conversion_order,
        "conversion_order_number": order.number if order else None,
        "conversion_revenue": (str(n.conversion_revenue) if n.conversion_revenue is not None
                               else None),
        "conversion_currency": n.conversion_currency,
        "converted_after_click": n.converted_after_click, "survey": n.survey,
        "rating": n.rating, "rating_comment": answer.comment if answer else None,
    }


def list_notifications(session: Session, *, status: str | None = None, rule: str | None = None,
                       customer_id: int | None = None, limit: int = 50,
                       kind: str | None = None) -> list[Notification]:
    """Outbox rows, newest first; ``kind`` narrows to ``message``, ``support``, ``webhook``
    or ``shopify`` (None: every kind)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")  # LIMIT -1 is "no limit" on SQLite
    stmt = select(Notification).order_by(col(Notification.id).desc()).limit(limit)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
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
        "id": n.id, "key": n.key, "kind": n.kind, "rule": n.rule, "step": n.step,
        "template": n.template,
        "entity": f"{n.entity_kind}:{n.entity_id}", "customer_id": n.customer_id,
        "purpose": n.purpose, "channels": n.channels, "channel": n.channel,
        "recipient": n.recipient, "status": n.status, "reason": n.reason,
        "due_at": n.due_at.isoformat(), "detected_at": n.detected_at.isoformat(),
        "sent_at": n.sent_at.isoformat() if n.sent_at else None,
        "provider_id": n.provider_id, **outcomes(session, n),
        "receipts": [
            {"provider": r.provider, "kind": r.kind, "bounce_kind": r.bounce_kind,
             "status": r.status, "at": r.occurred_at.isoformat(), "detail": r.detail}
            for r in session.exec(select(ReceiptEvent).where(
                ReceiptEvent.notification_id == notification_id)
                .order_by(col(ReceiptEvent.occurred_at), col(ReceiptEvent.id)))
        ],
        "link_clicks": [
            {"link": c.link_index, "at": c.at.isoformat(), "counted": c.counted,
             "flag": c.flag}
            for c in session.exec(select(LinkClick).where(
                LinkClick.notification_id == notification_id).order_by(col(LinkClick.id)))
        ],
        "attempts": [
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
    about = (f"  rule {data['rule']} step {data['step']} template {data['template']} "
             f"for {data['entity']} customer {data['customer_id']} ({data['purpose']})"
             if data["kind"] == "message" else
             f"  {data['kind']} {data['template']} to {data['recipient']} "
             f"(caused by {data['entity']})")
    lines = [
        f"notification {data['id']} ({data['key']})",
        about,
        f"  status: {data['status']}" + (f" - {data['reason']}" if data["reason"] else ""),
        f"  detected {data['detected_at']}, due {data['due_at']}"
        + (f", sent {data['sent_at']} via {data['channel']} to {data['recipient']}"
           if data["sent_at"] else ""),
    ]
    for a in data["attempts"]:
        lines.append(f"  attempt {a['number']} {a['channel']} at {a['started_at']}: "
                     f"{a['outcome']}" + (f" ({a['error']})" if a["error"] else "")
                     + (f" id={a['provider_id']}" if a["provider_id"] else ""))
    lines += _outcome_lines(data)
    return "\n".join(lines)


def _outcome_lines(data: dict[str, Any]) -> list[str]:
    lines = []
    for r in data["receipts"]:
        lines.append(f"  {r['provider']} reported {r['kind']}"
                     + (f" ({r['bounce_kind']})" if r["bounce_kind"] else "")
                     + f" at {r['at']}" + (f": {r['status']}" if r["status"] else "")
                     + (f" {r['detail']}" if r["detail"] else ""))
    if data["opened_at"]:
        lines.append(f"  opened {data['opened_at']} (information only, not attribution)")
    scanners = [c for c in data["link_clicks"] if not c["counted"]]
    if data["clicks"] or scanners:
        lines.append(f"  clicks: {data['clicks']}"
                     + (f", first {data['clicked_at']}" if data["clicked_at"] else "")
                     + (f"; {len(scanners)} scanner request(s) not counted "
                        f"({', '.join(sorted({c['flag'] for c in scanners}))})"
                        if scanners else ""))
    if data["converted_at"]:
        lines.append(f"  converted {data['converted_at']}: order {data['conversion_order']}"
                     + (f" ({data['conversion_order_number']})"
                        if data["conversion_order_number"] else "")
                     + f", {data['conversion_revenue']} {data['conversion_currency']}"
                     + (", after a click" if data["converted_after_click"] else "")
                     + (" (held out: measured from the due time)"
                        if data["status"] == "held_out" else ""))
    if data["rating"] is not None:
        lines.append(f"  rating ({data['survey']}): {data['rating']}"
                     + (f' - "{data["rating_comment"]}"' if data["rating_comment"] else ""))
    return lines
