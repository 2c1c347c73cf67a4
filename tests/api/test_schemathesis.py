"""Schemathesis over the OpenAPI schema of every endpoint (#11, "keep it fixed").

Requests carry a valid API key, and webhook bodies a valid signature computed by the
``before_call`` hook below over the exact bytes sent. For every generated request: no
5xx; a 400 or 422 names the field at fault; and a refused request (any 4xx) stores no row
except the raw event in ``inbound_events``. Example counts are printed by Hypothesis.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from schemathesis.core import NotSet
from sqlmodel import SQLModel

from notifier.app import create_app
from notifier.ingest.signatures import hmac_base64
from notifier.runtime import Runtime
from tests.conftest import make_settings

API_KEY = "test-key"
SHOPIFY_SECRET, WOO_SECRET = "shpss_current", "wc_secret"


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Authenticate every call; sign webhook bodies over the bytes actually sent."""
    headers = dict(case.headers or {})
    headers["Authorization"] = f"Bearer {API_KEY}"
    case.headers = headers
    path = case.operation.path
    if path not in {"/webhooks/shopify", "/webhooks/woocommerce"}:
        return
    body = b"" if isinstance(case.body, NotSet) else json.dumps(case.body).encode()
    kwargs["data"] = body
    headers["Content-Type"] = "application/json"
    if path == "/webhooks/shopify":
        headers.update({"X-Shopify-Topic": "orders/create",
                        "X-Shopify-Event-Id": uuid.uuid4().hex,
                        "X-Shopify-Hmac-Sha256": hmac_base64(body, SHOPIFY_SECRET)})
    else:
        headers.update({"X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-ID": "1",
                        "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
                        "X-WC-Webhook-Signature": hmac_base64(body, WOO_SECRET)})


@pytest.fixture
def sqlite_runtime(tmp_path, sqlite_template):  # type: ignore[no-untyped-def]
    import shutil

    from notifier.runtime import create_runtime

    path = tmp_path / "notifier.db"
    shutil.copy(sqlite_template, path)
    runtime = create_runtime(make_settings(tmp_path, database={"url": f"sqlite:///{path}"}))
    yield runtime
    runtime.close()


def row_counts(runtime: Runtime) -> dict[str, int]:
    with runtime.engine.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in SQLModel.metadata.sorted_tables}


def names_a_field(body: Any) -> bool:
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        return bool(detail.get("field"))
    if isinstance(detail, list):  # FastAPI's own validation errors: [{"loc": [...], ...}]
        return bool(detail) and all(isinstance(d, dict) and d.get("loc") for d in detail)
    return False


EXAMPLES = 10  # per operation; about 30 operations
# Where a 400/422 must name the field: our API and the shop webhooks. Provider callbacks
# (SES, Mailgun, SendGrid, Postmark, Twilio, SMSAPI) answer a reason string; their senders
# read no field, and they are held to "no 5xx, nothing stored" like every endpoint.
NAMED = ("/v1/", "/webhooks/shopify", "/webhooks/woocommerce", "/push/", "/s/")


def test_every_endpoint_refuses_cleanly(sqlite_runtime: Runtime,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    # Driven operation by operation rather than through schemathesis' pytest plugin, whose
    # lazy loader does not run on pytest 9.
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(sqlite_runtime))
    counts: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"

        for status in fuzz(operation, sqlite_runtime):
            counts[label] += 1
            statuses[f"{status // 100}xx"] += 1
    with capsys.disabled():
        print(f"\nschemathesis: {sum(counts.values())} requests over {len(counts)} operations "
              f"({dict(sorted(statuses.items()))})")
        for label, n in sorted(counts.items()):
            print(f"  {n:>3}  {label}")
    assert len(counts) >= 25


def fuzz(operation: Any, runtime: Runtime) -> list[int]:
    """Run up to EXAMPLES generated requests against ``operation``; their statuses."""
    seen: list[int] = []

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        seen.append(check(case, runtime))

    run()
    return seen


def check(case: Any, runtime: Runtime) -> int:
    before = row_counts(runtime)
    response = case.call()
    where = f"{case.operation.method.upper()} {case.operation.path}"
    assert response.status_code < 500, (where, response.text[:300])
    if response.status_code in {400, 422} and case.operation.path.startswith(NAMED):
        assert names_a_field(response.json()), (where, response.text[:300])
    if 400 <= response.status_code < 500:
        after = row_counts(runtime)
        grown = {name for name in after if after[name] != before[name]}
        assert grown <= {"inbound_events"}, (where, grown)
    return response.status_code
