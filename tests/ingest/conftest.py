from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from notifier.app import create_app
from notifier.ingest.signatures import hmac_base64
from notifier.runtime import Runtime

PAYLOADS = Path(__file__).parent / "payloads"


def load(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def shopify_headers(body: bytes, topic: str, *, secret: str = "shpss_current",
                    event_id: str = "evt-1", webhook_id: str = "wh-1") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": hmac_base64(body, secret),
        "X-Shopify-Shop-Domain": "sklep.myshopify.com",
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Triggered-At": "2026-11-30T09:15:02.000Z",
    }


def woo_headers(body: bytes, topic: str, *, secret: str = "wc_secret",
                delivery: str = "d-1") -> dict[str, str]:
    resource, event = topic.split(".")
    return {
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": "https://sklep.example.pl/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": hmac_base64(body, secret),
        "X-WC-Webhook-ID": "12",
        "X-WC-Webhook-Delivery-ID": delivery,
    }
