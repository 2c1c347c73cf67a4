"""``GET /v1/reports/rules`` and ``GET /v1/reports/daily`` (API key).

    GET /v1/reports/rules?from=2026-11-01&to=2026-11-30[&rule=cart-abandoned]
    GET /v1/reports/daily?from=2026-11-01&to=2026-11-30[&rule=cart-abandoned]

``from`` and ``to`` are dates (whole days in the shop timezone, ``to`` included) or
ISO-8601 moments with offset; a bad one is a 422 naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from notifier.auth import api_key_dependency
from notifier.detect.rules import RuleSet
from notifier.reports.build import build_report
from notifier.reports.period import PeriodError, parse_period
from notifier.reports.queries import daily_counts
from notifier.runtime import Runtime

Bound = Annotated[str | None, Query(description="YYYY-MM-DD (shop timezone) or ISO moment")]


def build_reports_router(runtime: Runtime, *, rules: Callable[[], RuleSet]) -> APIRouter:
    router = APIRouter(prefix="/v1/reports", tags=["reports"],
                       dependencies=[Depends(api_key_dependency(runtime.settings))])
    settings = runtime.settings

    def period(start: str | None, end: str | None) -> tuple[Any, Any]:
        try:
            return parse_period(start, end, now=runtime.clock(),
                                timezone=settings.shop.timezone)
        except PeriodError as exc:
            raise HTTPException(422, [{"loc": ["query", exc.field], "msg": str(exc),
                                       "type": "value_error"}]) from exc

    @router.get("/rules")
    async def rules_report(start: Annotated[Bound, Query(alias="from")] = None,
                           end: Annotated[Bound, Query(alias="to")] = None,
                           rule: str | None = None,
                           target: Annotated[float | None, Query(gt=0, lt=1)] = None
                           ) -> JSONResponse:
        """Per rule and step: customers per arm, outcomes, conversions and revenue with
        their uplift against the holdout, offers, costs, net value and a verdict."""
        lower, upper = period(start, end)

        def query() -> dict[str, Any]:
            with runtime.sessions() as session:
                return build_report(session, settings=settings, rules=rules(), start=lower,
                                    end=upper, now=runtime.clock(), rule=rule,
                                    target=target).as_dict()

        return JSONResponse(await run_in_threadpool(query))

    @router.get("/daily")
    async def daily(start: Annotated[Bound, Query(alias="from")] = None,
                    end: Annotated[Bound, Query(alias="to")] = None,
                    rule: str | None = None) -> JSONResponse:
        """Customer messages per shop-local day (by detection), rule, channel and status."""
        lower, upper = period(start, end)

        def query() -> list[dict[str, Any]]:
            with runtime.sessions() as session:
                return [d.as_dict() for d in daily_counts(
                    session, start=lower, end=upper, rule=rule,
                    timezone=runtime.settings.shop.timezone)]

        return JSONResponse({"from": lower.isoformat(), "to": upper.isoformat(),
                             "days": await run_in_threadpool(query)})

    return router
