"""``GET /v1/reports/carriers`` (API key): the carriers report as JSON, for the console.

    GET /v1/reports/carriers[?threshold=0.6]
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from notifier.auth import api_key_dependency
from notifier.runtime import Runtime
from notifier.transit.report import carriers_report


def build_carriers_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/v1/reports", tags=["reports"],
                       dependencies=[Depends(api_key_dependency(runtime.settings))])

    @router.get("/carriers")
    async def carriers(threshold: Annotated[float, Query(gt=0, lt=1)] = 0.6) -> JSONResponse:
        """Per carrier and segment: parcels, on-time share, median and p90 transit in
        business hours; precision, recall and lead time of the at-risk backtest."""

        def build() -> dict[str, Any]:
            return carriers_report(runtime.sessions, runtime.settings, now=runtime.clock(),
                                   threshold=threshold).as_dict()

        return JSONResponse(await run_in_threadpool(build))

    return router
