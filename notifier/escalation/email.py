"""The escalation as an email to the support team: plain text and simple HTML.

Support reads it in any mail client, so the HTML is a few tables without styling that a
client could strip. Times are shown in the shop's timezone. ``Reply-To`` is the customer
when we know their address, so "reply" reaches the person the case is about.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from notifier.domain import EmailMessage
from notifier.escalation.case import Escalation


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "-"


def _facts(esc: Escalation, zone: ZoneInfo) -> list[tuple[str, str]]:
    rows = [("Reason", esc.reason), ("Rule", f"{esc.rule} (step {esc.step + 1})"),
            ("Days late", str(esc.days_late)),
            ("Earlier incidents (window)", str(esc.prior_incidents))]
    if c := esc.customer:
        name = " ".join(p for p in (c.first_name, c.last_name) if p) or "-"
        rows += [("Customer", f"{name} (#{c.id}, segment {c.segment or '-'})"),
                 ("Email", c.email or "-"), ("Phone", c.phone or "-")]
    if o := esc.order:
        rows += [("Order", f"{o.number} ({o.status}, payment {o.payment_status})"),
                 ("Total", f"{o.total} {o.currency}"), ("Placed", _when(o.placed_at, zone)),
                 ("Ship by", _when(o.ship_by, zone)), ("Deliver by", _when(o.deliver_by, zone))]
    if s := esc.shipment:
        rows += [("Shipment", f"{s.carrier or '-'} {s.tracking_number or ''} ({s.status})"),
                 ("Tracking", s.tracking_url or "-"), ("Carrier ETA", _when(s.eta, zone)),
                 ("Last scan", _when(s.last_event_at, zone))]
    if k := esc.cart:
        rows += [("Cart", f"#{k.id}, {k.value} {k.currency}")]
    return rows


def _timeline_rows(esc: Escalation, zone: ZoneInfo) -> list[tuple[str, ...]]:
    return [(_when(e.at, zone), e.channel or "-", e.template, e.status,
             e.offer_code or "", e.reason or "") for e in esc.timeline]


def support_email(esc: Escalation, *, to: str, from_addr: str, timezone: str) -> EmailMessage:
    """Render ``esc`` for the support inbox at ``to``."""
    zone = ZoneInfo(timezone)
    facts, lines = _facts(esc, zone), _timeline_rows(esc, zone)
    width = max(len(k) for k, _ in facts)
    text = [esc.subject, "", *(f"{k.ljust(width)}  {v}" for k, v in facts), "",
            "What we told the customer:"]
    text += [f"  {' | '.join(p for p in row if p)}" for row in lines] or ["  (nothing yet)"]
    if esc.offers:
        text += ["", "Offers held:"]
        text += [f"  {o.code} {o.policy} {o.kind} {o.value} {o.currency} {o.status} "
                 f"until {_when(o.expires_at, zone)}" for o in esc.offers]

    cell = "<td style='padding:2px 8px'>{}</td>"
    html = [f"<h2>{escape(esc.subject)}</h2>", "<table>"]
    html += [f"<tr><th align='left'>{escape(k)}</th>{cell.format(escape(v))}</tr>"
             for k, v in facts]
    html += ["</table>", "<h3>What we told the customer</h3>", "<table border='1' "
             "cellspacing='0'><tr><th>When</th><th>Channel</th><th>Message</th><th>Status</th>"
             "<th>Code</th><th>Note</th></tr>"]
    html += ["<tr>" + "".join(cell.format(escape(p)) for p in row) + "</tr>" for row in lines]
    html.append("</table>")
    if esc.offers:
        html.append("<h3>Offers held</h3><ul>")
        html += [f"<li>{escape(o.code)}: {escape(o.policy)} {escape(o.kind)} {o.value} "
                 f"{escape(o.currency)}, {escape(o.status)}</li>" for o in esc.offers]
        html.append("</ul>")
    reply_to = esc.customer.email if esc.customer and esc.customer.email else ""
    return EmailMessage(to=to, subject=esc.subject, text="\n".join(text) + "\n",
                        html="\n".join(html), from_addr=from_addr, reply_to=reply_to,
                        headers=(("X-Notifier-Escalation", str(esc.notification_id)),))
