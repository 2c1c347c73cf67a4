"""Report time over a large history: 1M notifications by default, on SQLite and PostgreSQL.

    .venv/bin/python bench/report.py                              # 1M, both databases
    .venv/bin/python bench/report.py --database sqlite --rows 100000

Seeds ``--rules`` cart rules over 30 days (core INSERT): each case a step-0 row, half of
the treated ones a step-1 row a day later; 20% holdout; 12% of treated and 8% of held-out
customers convert with a revenue; some skipped for want of consent. Then rolls the days
up (what the track job does once for a history; after that a day at a time) and times
the whole report for November as ``notifier report --from 2026-11-01 --to 2026-11-30``
asks for it (shop-local days: every rule's aggregates, the bootstrap, the planner), one
rule's report, the daily counts, and the report over UTC bounds (partial first and last
local days, counted live), three runs each (the best is reported). The whole report is
timed cold too (its first run, every revenue bootstrap computed; later runs find the
intervals remembered, so they measure the counts). scipy's statistics are imported and
timed first (``scipy_import_s``): a process pays that once, at its first report. Figures
go to stdout, the last line is JSON; nothing is asserted (the target is under a second).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from bench_support import REPO, migrated_database

from notifier.config import Settings
from notifier.detect.rules import RuleSet, parse_rule
from notifier.detect.sampling import assign
from notifier.reports import build_report, daily_counts
from notifier.reports.build import forget_intervals
from notifier.reports.period import parse_period
from notifier.reports.rollup import refresh
from notifier.runtime import create_runtime

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)
NOW = datetime(2027, 1, 15, tzinfo=UTC)
CHUNK = 20_000


def rule_text(name: str) -> str:
    return f"""
name = "{name}"
trigger = "cart.abandoned"
purpose = "marketing"
channels = ["email", "sms"]
holdout = 20
[params]
wait = "1h"
[[steps]]
delay = "0h"
template = "cart_reminder"
[[steps]]
delay = "23h"
template = "cart_reminder_offer"
"""


def seed(engine: sa.Engine, size: int, rules: list[str], ruleset: RuleSet) -> dict[str, int]:
    rng = random.Random(7)
    customers = max(1, size // 3)
    for start in range(1, customers + 1, CHUNK):
        raw_insert(engine, "customers", [
            {"id": i, "source": "bench", "external_id": f"c{i}", "email": f"c{i}@x.pl",
             "push_subscriptions": [], "created_at": START, "updated_at": START}
            for i in range(start, min(start + CHUNK, customers + 1))])
    written = {"notifications": 0, "cases": 0}
    batch: list[dict] = []
    span = (END - START).total_seconds()
    case = 0
    while written["notifications"] < size:
        case += 1
        rule = rules[case % len(rules)]
        customer = rng.randint(1, customers)
        arm = assign(ruleset.get(rule), f"customer:{customer}")  # type: ignore[arg-type]
        at = START + timedelta(seconds=rng.random() * span)
        convert = rng.random() < (0.12 if arm == "treated" else 0.08)
        no_consent = arm == "treated" and rng.random() < 0.05
        status = ("held_out" if arm == "holdout" else "skipped" if no_consent else "delivered")
        base = {"rule": rule, "entity_kind": "cart", "entity_id": case, "customer_id": customer,
                "purpose": "marketing", "channels": ["email", "sms"], "due_at": at,
                "arm": arm, "reason": "no consent for marketing email" if no_consent else None}
        sent = status == "delivered"
        batch.append({**base, "key": f"{rule}:0:cart:{case}", "step": 0,
                      "template": "cart_reminder", "detected_at": at, "status": status,
                      "channel": "email" if sent else None, "sent_at": at if sent else None,
                      "delivered_at": at if sent else None,
                      "converted_at": at + timedelta(hours=3) if convert else None,
                      "conversion_revenue": Decimal(rng.randint(50, 400)) if convert else None,
                      "conversion_currency": "PLN" if convert else None})
        if sent and not convert and rng.random() < 0.5:
            later = at + timedelta(hours=23)
            batch.append({**base, "key": f"{rule}:1:cart:{case}", "step": 1,
                          "template": "cart_reminder_offer", "detected_at": later,
                          "status": "sent", "channel": "sms", "sent_at": later,
                          "delivered_at": None, "converted_at": None,
                          "conversion_revenue": None, "conversion_currency": None})
        if len(batch) >= CHUNK:
            written["notifications"] += _flush(engine, batch)
    written["notifications"] += _flush(engine, batch)
    written["cases"] = case
    written["customers"] = customers
    return written


def _flush(engine: sa.Engine, batch: list[dict]) -> int:
    n = len(batch)
    if n:
        raw_insert(engine, "notifications", [
            {"attempts": 0, "days_late": 0, "clicks": 0, "converted_after_click": False,
             "kind": "message", **row} for row in batch])
        batch.clear()
    return n


def raw_insert(engine: sa.Engine, table: str, rows: list[dict]) -> None:
    """Rows straight through the driver (PostgreSQL COPY, SQLite executemany): seeding a
    million rows through the ORM's type processing took most of the bench's time. Values
    are written as the column types store them (naive UTC, JSON text)."""
    if not rows:
        return
    columns = list(rows[0])
    sqlite = engine.dialect.name == "sqlite"

    def value(v: object) -> object:
        if isinstance(v, datetime):
            naive = v.astimezone(UTC).replace(tzinfo=None)
            return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else naive
        if isinstance(v, list):
            return json.dumps(v)
        if isinstance(v, Decimal):
            return float(v) if sqlite else v
        if isinstance(v, bool) and sqlite:
            return int(v)
        return v

    tuples = [tuple(value(row[c]) for c in columns) for row in rows]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        names = ", ".join(columns)
        if sqlite:
            marks = ", ".join("?" for _ in columns)
            cursor.execute("BEGIN")  # the driver is in autocommit: one transaction, not n
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuples)
        else:
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for t in tuples:
                    copy.write_row(t)
        raw.commit()
    finally:
        raw.close()


def best(runs: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def run(backend: str, size: int, rule_count: int) -> dict:
    names = [f"cart-{i}" for i in range(rule_count)]
    ruleset = RuleSet(tuple(parse_rule(rule_text(n)) for n in names))
    with tempfile.TemporaryDirectory() as tmp, migrated_database(backend, Path(tmp)) as url:
        settings = Settings(paths={"data_dir": Path(tmp) / "var", "rules_dir": REPO / "rules",
                                   "templates_dir": REPO / "templates"},
                            database={"url": url},
                            reports={"message_cost": {"sms": "0.07", "email": "0.002"}})
        runtime = create_runtime(settings)
        started = time.perf_counter()
        written = seed(runtime.engine, size, names, ruleset)
        seeded = time.perf_counter() - started
        _analyze(runtime.engine)
        zone = settings.shop.timezone
        started = time.perf_counter()
        refresh(runtime.sessions, timezone=zone, now=NOW)
        rolled = time.perf_counter() - started
        _analyze(runtime.engine)
        start, end = parse_period("2026-11-01", "2026-11-30", now=NOW, timezone=zone)

        def report(lo: datetime, hi: datetime, rule: str | None = None) -> None:
            with runtime.sessions() as session:
                build_report(session, settings=settings, rules=ruleset, start=lo, end=hi,
                             now=NOW, rule=rule)

        def daily() -> None:
            with runtime.sessions() as session:
                daily_counts(session, start=start, end=end, timezone=zone)

        # The first report computes every bootstrap (cold); later ones find the intervals
        # remembered (warm: the counts alone). A new day of data is a cold report again.
        forget_intervals()  # the process may have computed these inputs' intervals before
        cold = best(1, lambda: report(start, end))
        with runtime.sessions() as session:
            sample = build_report(session, settings=settings, rules=ruleset, start=start,
                                  end=end, now=NOW, rule=names[0]).rules[0]
        result = {"backend": backend, **written, "rules": rule_count,
                  "seed_s": round(seeded, 1), "rollup_s": round(rolled, 1),
                  "report_all_cold_s": round(cold, 3),
                  "report_all_s": round(best(3, lambda: report(start, end)), 3),
                  "report_one_rule_s": round(best(3, lambda: report(start, end, names[0])),
                                             3),
                  "daily_s": round(best(3, daily), 3),
                  "report_utc_bounds_s": round(best(3, lambda: report(START, END)), 3),
                  "sample_verdict": sample.verdict, "sample_treated": sample.treated,
                  "sample_holdout": sample.holdout}
        runtime.close()
    return result


def _analyze(engine: sa.Engine) -> None:
    """Statistics for the planner; on PostgreSQL a VACUUM too, as autovacuum would after a
    million inserts: without the visibility map it sets, the covering indexes' index-only
    scans read the table anyway (the buyers' query: 97 ms instead of 30 ms per rule)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
        return
    with engine.connect() as conn:
        conn.execute(sa.text("ANALYZE"))
        conn.commit()


def import_statistics() -> float:
    """Seconds to import scipy's statistics, which the engine imports at a process's first
    report (not at start-up: it costs a process ~72 MB). Timed apart and done before the
    runs, so the cold report times the intervals, not the import."""
    started = time.perf_counter()
    import scipy.optimize
    import scipy.special
    import scipy.stats  # noqa: F401
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", "--size", type=int, default=1_000_000,
                        help="notifications (default 1M)")
    parser.add_argument("--rules", type=int, default=4)
    parser.add_argument("--database", "--backends", nargs="+", dest="databases",
                        choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    args = parser.parse_args()
    imported = import_statistics()
    print(f"scipy statistics imported in {imported:.2f} s (a process's first report pays it "
          "once)", flush=True)
    results = []
    for backend in args.databases:
        r = run(backend, args.rows, args.rules)
        results.append(r)
        print(f"{backend:<11} {r['notifications']:>9,} notifications ({r['customers']:,} "
              f"customers, {r['rules']} rules; seeded in {r['seed_s']} s, rolled up in "
              f"{r['rollup_s']} s): whole report {r['report_all_cold_s']} s cold "
              f"(bootstraps computed), {r['report_all_s']} s warm, one rule "
              f"{r['report_one_rule_s']} s, daily counts {r['daily_s']} s, over UTC "
              f"bounds (partial days live) {r['report_utc_bounds_s']} s", flush=True)
    print(json.dumps({"bench": "report", "scipy_import_s": round(imported, 2),
                      "results": results}))


if __name__ == "__main__":
    main()
