"""Where the parcel goes (transit predictions segment by it): ship_country and
ship_postcode from our API, Shopify's shipping_address and WooCommerce's shipping."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.runtime import Runtime
from notifier.store.tables import Order
from tests.ingest.conftest import load, shopify_headers, woo_headers


def order_row(runtime: Runtime) -> Order:
    with runtime.sessions() as session:
        [order] = session.exec(select(Order)).all()
        return order


def test_api_order_carries_its_destination(client: TestClient, runtime: Runtime) -> None:
    body = {"external_id": "A1", "currency": "PLN", "total": "10", "ship_country": "pl",
            "ship_postcode": "38-500"}
    response = client.post("/v1/orders", json=body, headers={"Authorization": "Bearer test-key"})
    assert response.status_code in (200, 201, 202), response.text
    order = order_row(runtime)
    assert (order.ship_country, order.ship_postcode) == ("PL", "38-500")


def test_api_refuses_a_country_that_is_not_a_code(client: TestClient) -> None:
    body = {"external_id": "A2", "currency": "PLN", "total": "10", "ship_country": "Polska"}
    response = client.post("/v1/orders", json=body, headers={"Authorization": "Bearer test-key"})
    assert response.status_code == 422
    assert "ship_country" in response.text


def test_shopify_shipping_address(client: TestClient, runtime: Runtime) -> None:
    payload = load("shopify_order.json")
    payload["shipping_address"] = {"zip": "38-500", "country_code": "PL", "city": "Sanok"}
    body = json.dumps(payload).encode()
    response = client.post("/webhooks/shopify", content=body,
                           headers=shopify_headers(body, "orders/create"))
    assert response.status_code == 200, response.text
    order = order_row(runtime)
    assert (order.ship_country, order.ship_postcode) == ("PL", "38-500")


def test_woocommerce_shipping_address(client: TestClient, runtime: Runtime) -> None:
    body = json.dumps(load("woocommerce_order.json")).encode()
    response = client.post("/webhooks/woocommerce", content=body,
                           headers=woo_headers(body, "order.created"))
    assert response.status_code == 200, response.text
    order = order_row(runtime)
    assert (order.ship_country, order.ship_postcode) == ("PL", "30-001")
