"""The ceiling ``bench/ingest.py`` measures the engine against: a bare FastAPI route.

    .venv/bin/python bench/bare_ingest.py --port 8765 --secret bench-secret

It is served the way ``notifier api`` is (``uvicorn.run`` of one app, one process) and
does what the engine's Shopify route does before storage: read the body, verify the HMAC,
decode the JSON and map it onto our records. It stores nothing and answers 200 with the
record count, so the difference from the engine is the write path alone.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from notifier.errors import SignatureError
from notifier.ingest.shopify import ShopifyAdapter


def create_bare_app(secret: str) -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/shopify")
    async def shopify(request: Request) -> JSONResponse:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        adapter = ShopifyAdapter([secret])
        try:
            adapter.verify(headers, body)
        except SignatureError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=401)
        records = adapter.parse(adapter.topic(headers), json.loads(body), now=datetime.now(UTC))
        return JSONResponse({"outcome": "parsed", "records": len(records)})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    uvicorn.run(create_bare_app(args.secret), host="127.0.0.1", port=args.port,
                log_level="info")


if __name__ == "__main__":
    main()
