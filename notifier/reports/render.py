"""The report as text for people (a table) and as CSV for spreadsheets.

JSON is :meth:`Report.as_dict` itself. CSV has one row per rule (``step`` empty) and one
per step, nested fields flattened with dots (``conversion_uplift.low``).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from notifier.reports.build import Report


def as_table(report: Report) -> str:
    lines = [f"period {report.start.isoformat()} .. {report.end.isoformat()} (end excluded)"]
    if not report.rules:
        lines.append("no rules and no notifications in this period")
    for rule in report.rules:
        lines += ["", *_rule_block(rule.as_dict())]
    return "\n".join(lines)


def _rule_block(r: dict[str, Any]) -> list[str]:
    split = (f"holdout {100 * r['holdout_share']:g}%, rollout {r['rollout']:g}%"
             if r["loaded"] else "not loaded now")
    out = [f"== {r['rule']}  ({r['mode'] or '-'}, {split})   verdict: {r['verdict'].upper()}"
           f"  [{r['primary_metric']}; readout {r['readout'] or '-'}]"]
    rows = [
        ("", "treated", "holdout"),
        ("customers", r["treated"], r["holdout"]),
        ("converted", _count_rate(r["converted_treated"], r["conversion_rate_treated"]),
         _count_rate(r["converted_holdout"], r["conversion_rate_holdout"])),
        ("revenue", _m(r["revenue_treated"]), _m(r["revenue_holdout"])),
        ("revenue per customer", _m(r["revenue_per_customer_treated"]),
         _m(r["revenue_per_customer_holdout"])),
        ("contacts per 100", _m((r["contacts"] or {}).get("per_100_treated")),
         _m((r["contacts"] or {}).get("per_100_holdout"))),
        ("CSAT (4-5 share)", _pct(r["csat"]["treated"]["csat"]),
         _pct(r["csat"]["holdout"]["csat"])),
    ]
    out += [f"  {a:<22}{b!s:>16}{c!s:>16}" for a, b, c in rows]
    if r["excluded"]:
        out.append(f"  outside rollout: {r['excluded']} customers")
    out.append("  conversion uplift: " + _uplift(r["conversion_uplift"], points=True)
               + (f"; {r['incremental_conversions_per_100']:+.2f} per 100 customers, "
                  f"{r['incremental_orders']:+.1f} orders"
                  if r["incremental_orders"] is not None else ""))
    out.append("  revenue per customer uplift: " + _uplift(r["revenue_per_customer_uplift"]))
    if r["contacts"] and r["contacts"]["uplift"]:
        out.append("  support contacts uplift: " + _uplift(r["contacts"]["uplift"], points=True))
    if r["csat"]["uplift"]:
        out.append("  CSAT uplift: " + _uplift(r["csat"]["uplift"], points=True))
    out.append(f"  incremental revenue {_m(r['incremental_revenue'])} - discounts "
               f"{_m(r['discount_cost'])} (offers {r['offers_issued']} issued, "
               f"{r['offers_redeemed']} redeemed) - messages {_m(r['message_cost'])} "
               f"= net value {_m(r['net_value'])}")
    out.append(f"  sent {r['sent']}, delivered {r['delivered']}, bounced {r['bounced']}, "
               f"complained {r['complained']}, unsubscribed {r['unsubscribed']}, clicked "
               f"{r['clicked']}, failed {r['failed']}, pending {r['pending']}; opened "
               f"{r['opened']} (information only)")
    for arm, rec in r["recovered_carts"].items():
        out.append(f"  recovered carts ({arm}): {rec['carts']} worth {_m(rec['value'])}, "
                   f"{rec['via_link']} through the link")
    if r["surveys"]["csat_answers"] or r["surveys"]["nps_answers"]:
        s = r["surveys"]
        out.append(f"  answers to its question: CSAT {_pct(s['csat'])} of {s['csat_answers']}, "
                   f"NPS {s['nps'] if s['nps'] is not None else '-'} of {s['nps_answers']}")
    for reason, n in r["skipped"].items():
        out.append(f"  skipped {n:>6}  {reason}")
    p = r["planner"]
    out.append(f"  planner: at {p['customers_per_week']:g} customers a week the smallest "
               f"detectable difference is {_pts(p['detectable_difference'])}; "
               f"{_pts(p['target_difference'])} needs {_weeks(p['weeks_to_target'])} "
               f"({_weeks(p['weeks_remaining'])} to go)")
    if r["sample_ratio"]:
        sr = r["sample_ratio"]
        out.append(f"  split check: chi-square {sr['chi_square']}, p = {sr['p_value']:.3g}"
                   + ("  MISMATCH" if sr["mismatch"] else " (as configured)"))
    out.append(f"  {'step':<6}{'template':<28}{'treated':>9}{'holdout':>9}{'sent':>8}"
               f"{'conv. t':>9}{'conv. h':>9}  uplift")
    for s in r["steps"]:
        out.append(f"  {s['step']:<6}{(s['template'] or '-'):<28}{s['treated']:>9}"
                   f"{s['holdout']:>9}{s['sent']:>8}{s['converted_treated']:>9}"
                   f"{s['converted_holdout']:>9}  {_uplift(s['conversion_uplift'], points=True)}")
    out += [f"  warning: {w}" for w in r["warnings"]]
    return out


def as_csv(report: Report) -> str:
    rows: list[dict[str, Any]] = []
    for rule in report.rules:
        data = rule.as_dict()
        steps = data.pop("steps")
        rows.append({"from": report.start.isoformat(), "to": report.end.isoformat(),
                     **_flat(data), "step": ""})
        for step in steps:
            rows.append({"from": report.start.isoformat(), "to": report.end.isoformat(),
                         "rule": data["rule"], **_flat(step)})
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns or ["from", "to", "rule"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, name + ".") if value else {name: ""})
        elif isinstance(value, list):
            out[name] = "; ".join(str(v) for v in value)
        else:
            out[name] = "" if value is None else value
    return out


def _uplift(u: dict[str, Any] | None, *, points: bool = False) -> str:
    if u is None:
        return "- (an arm is empty)"
    scale, unit = (100, " pts") if points else (1, "")
    return (f"{scale * u['difference']:+.2f}{unit} (95% CI {scale * u['low']:+.2f} to "
            f"{scale * u['high']:+.2f}; {u['method']})")


def _count_rate(n: int, rate: float | None) -> str:
    return f"{n} ({_pct(rate)})"


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


def _pts(diff: float | None) -> str:
    return "-" if diff is None else f"{100 * diff:.2f} pts"


def _weeks(weeks: float | None) -> str:
    return "-" if weeks is None else f"{weeks:.1f} weeks"


def _m(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"
