"""Dashboard: a period's messages per day (by status or channel), every rule's funnel,
and what needs attention (failures rising, a connector down, a pool low, a budget near
its cap)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from notifier.console.chart import stacked_bars
from notifier.console.web import Console, Visitor
from notifier.health import health_report
from notifier.offers.ledger import policy_summaries
from notifier.reports import build_report
from notifier.track.activity import (
    Period,
    daily_counts,
    funnels,
    period_counts,
    period_groups,
)


def choose_period(console: Console, query: dict[str, str]) -> Period:
    def day(name: str) -> date | None:
        try:
            return date.fromisoformat(query.get(name, ""))
        except ValueError:
            return None

    return Period.choose(query.get("period", "7d"), now=console.now(), tz=console.tz,
                         first=day("from"), last=day("to"))


def build(console: Console) -> APIRouter:
    router = APIRouter()

    def figures(period: Period, by: str) -> dict[str, Any]:
        settings = console.runtime.settings
        now = console.now()
        with console.runtime.sessions() as session:
            stored = period_groups(session, period=period)
            counts = daily_counts(session, period=period, counts=period_counts(
                session, period=period, stored=stored))
            rule_funnels = funnels(session, period=period, stored=stored)
            health = health_report(session, settings, now=now)
            policies = policy_summaries(session, settings, now=now, start=period.start,
                                        end=period.end) if settings.offers.enabled else []
        series: dict[str, dict[date, int]] = {}
        for c in counts:
            name = c.status if by == "status" else c.channel
            series.setdefault(name, {})
            series[name][c.day] = series[name].get(c.day, 0) + c.count
        alerts: list[tuple[str, dict[str, Any]]] = []
        if health.failures_rising:
            alerts.append(("failures", {"now": health.failures_last_day,
                                        "before": health.failures_previous_day}))
        for connector in health.connectors:
            if not connector.get("healthy", True):
                alerts.append(("connector", {"name": connector["name"],
                                             "error": connector.get("last_error") or ""}))
        for p in policies:
            if p.pool_low:
                alerts.append(("pool", {"name": p.name, "left": p.pool_free}))
            if p.budget_near_cap:
                alerts.append(("budget", {"name": p.name, "spent": p.month_spent,
                                          "cap": p.budget}))
        return {"period": period, "by": by, "chart": stacked_bars(period.days, series),
                "totals": {name: sum(v.values()) for name, v in series.items()},
                "funnels": sorted(rule_funnels.values(), key=lambda f: f.rule),
                "policies": policies, "alerts": alerts,
                "currency": settings.shop.currency}

    def uplift(period: Period) -> dict[str, Any]:
        """The reports' per-rule uplift against the holdout (#14): intervals and a
        verdict. Costlier than the counts (bootstrap), so the page loads it in a swap."""
        from notifier.console.pages.rules import current_rules

        rules = current_rules(console)
        with console.runtime.sessions() as session:
            report = build_report(session, settings=console.runtime.settings, rules=rules,
                                  start=period.start, end=period.end, now=console.now())
        return {"report": report, "currency": console.runtime.settings.shop.currency}

    @router.get("/", response_class=HTMLResponse)
    async def dashboard(request: Request, visitor: Visitor = Depends(console.page())
                        ) -> HTMLResponse:
        query = dict(request.query_params)
        period = choose_period(console, query)
        if query.get("partial") == "uplift":
            return console.render(request, visitor, "_uplift.html",
                                  **await run_in_threadpool(uplift, period))
        by = "channel" if query.get("by") == "channel" else "status"
        data = await run_in_threadpool(figures, period, by)
        if query.get("uplift"):  # without JavaScript: the uplift in the page itself
            data.update(await run_in_threadpool(uplift, period))
        template = "_chart.html" if query.get("partial") == "chart" else "dashboard.html"
        return console.render(request, visitor, template, **data)

    return router
