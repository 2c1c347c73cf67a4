"""Creating issued codes as Shopify discounts, through the Admin GraphQL API.

GraphQL rather than REST price rules: REST is legacy for new apps, and one mutation
creates the discount and its code together. Percent and amount offers use
``discountCodeBasicCreate`` (the whole order, all buyers, one use, ending when the offer
expires); free shipping uses ``discountCodeFreeShippingCreate`` (all countries). The API
version is configurable (``[offers.shopify].api_version``) because Shopify retires
versions quarterly. A "code already taken" answer means an earlier attempt succeeded
(its response was lost), so it counts as delivered.

The queued payload (``discount.create``) is :func:`discount_payload` of an offer.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from notifier.config import ShopifyAdminSettings
from notifier.deliver.base import permanent, transient
from notifier.offers.outbound import Due, check_response
from notifier.store.offer_tables import Offer

BASIC = """
mutation discountCodeBasicCreate($discount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $discount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}"""

FREE_SHIPPING = """
mutation discountCodeFreeShippingCreate($discount: DiscountCodeFreeShippingInput!) {
  discountCodeFreeShippingCreate(freeShippingCodeDiscount: $discount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}"""


def discount_payload(offer: Offer) -> dict[str, Any]:
    """What the queue stores for one offer: enough to build the mutation later."""
    return {"code": offer.code, "kind": offer.kind, "value": str(offer.value),
            "currency": offer.currency, "policy": offer.policy,
            "starts_at": offer.issued_at.isoformat(), "ends_at": offer.expires_at.isoformat()}


def mutation_for(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The GraphQL document and variables creating the discount described by ``data``."""
    common: dict[str, Any] = {
        "title": f"{data['policy']} {data['code']}",
        "code": data["code"],
        "startsAt": data["starts_at"],
        "endsAt": data["ends_at"],
        "context": {"all": "ALL"},
        "usageLimit": 1,
        "appliesOncePerCustomer": True,
    }
    if data["kind"] == "free_shipping":
        return FREE_SHIPPING, {"discount": {**common, "destination": {"all": True}}}
    if data["kind"] == "percent":
        value: dict[str, Any] = {"percentage": float(Decimal(data["value"]) / 100)}
    else:
        value = {"discountAmount": {"amount": data["value"], "appliesOnEachItem": False}}
    gets = {"value": value, "items": {"all": True}}
    return BASIC, {"discount": {**common, "customerGets": gets}}


class ShopifyTarget:
    """The ``shopify`` outbound target."""

    max_attempts: ClassVar[int] = 10
    backoff_base_s: ClassVar[float] = 30.0
    backoff_max_s: ClassVar[float] = 3600.0

    def __init__(self, settings: ShopifyAdminSettings) -> None:
        self.settings = settings
        base = settings.api_base_url.rstrip("/") or f"https://{settings.shop}"
        self.url = f"{base}/admin/api/{settings.api_version}/graphql.json"

    async def send(self, client: httpx.AsyncClient, due: Due, now: datetime) -> None:
        data = json.loads(due.body)["data"]
        query, variables = mutation_for(data)
        headers = {"X-Shopify-Access-Token": self.settings.access_token.get_secret_value(),
                   "Content-Type": "application/json"}
        try:
            response = await client.post(self.url, json={"query": query, "variables": variables},
                                         headers=headers, timeout=self.settings.timeout_s)
        except httpx.TransportError as exc:
            raise transient(f"{type(exc).__name__}: {exc}", "network") from exc
        check_response(response, now)
        answer = response.json()
        if answer.get("errors"):  # GraphQL-level: throttled, malformed, access denied
            text = json.dumps(answer["errors"])[:300]
            if "THROTTLED" in text:
                raise transient(f"shopify throttled: {text}", "shopify-throttled", 2.0)
            raise permanent(f"shopify refused: {text}", "shopify-error")
        payload = next(iter((answer.get("data") or {}).values()), None) or {}
        errors = payload.get("userErrors") or []
        if errors and not all(e.get("code") == "TAKEN" for e in errors):
            raise permanent(f"shopify user errors: {json.dumps(errors)[:300]}",
                            "shopify-user-error")
