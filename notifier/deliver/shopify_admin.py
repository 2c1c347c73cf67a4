"""Creating issued codes as Shopify discounts, through the Admin GraphQL API.

GraphQL rather than REST price rules: REST is legacy for new apps, and one mutation
creates the discount and its code together. Percent and amount offers use
``discountCodeBasicCreate`` (the whole order, all buyers, one use, ending when the offer
expires); free shipping uses ``discountCodeFreeShippingCreate`` (all countries). The API
version is configurable (``[offers.shopify].api_version``) because Shopify retires
versions quarterly. A "code already taken" answer means an earlier attempt succeeded
(its response was lost), so it counts as delivered and the channel is idempotent.

The queued ``data`` of a ``discount.create`` call is
:func:`notifier.offers.sync.discount_payload` of an offer.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from notifier.config import ShopifyAdminSettings
from notifier.deliver.base import ChannelBase, permanent, transient
from notifier.deliver.webhook import check_response, post
from notifier.domain import Integration, Outgoing, SendResult, ShopCall

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


class ShopifyAdminChannel(ChannelBase):
    """Sends :class:`ShopCall` s (``discount.create``) to one shop's Admin API."""

    kind = Integration.SHOPIFY
    name = "shopify-admin"
    idempotent: ClassVar[bool] = True
    # A standard app restores 50 query-cost points a second; a discount mutation costs
    # about 10, so two calls a second stay well inside the bucket with room for others.
    rate_limit: ClassVar[tuple[int, float] | None] = (2, 1.0)

    def __init__(self, settings: ShopifyAdminSettings, *,
                 client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        base = settings.api_base_url.rstrip("/") or f"https://{settings.shop}"
        self.url = f"{base}/admin/api/{settings.api_version}/graphql.json"
        self.client = client or httpx.AsyncClient()
        self._own_client = client is None

    async def send(self, outgoing: Outgoing) -> SendResult:
        call = self._message(outgoing, ShopCall)
        if call.operation != "discount.create":
            raise permanent(f"shopify: unknown operation {call.operation!r}", "shopify-operation")
        query, variables = mutation_for(json.loads(call.data))
        headers = {"X-Shopify-Access-Token": self.settings.access_token.get_secret_value(),
                   "Content-Type": "application/json"}
        response = await post(self.client, self.url, timeout_s=self.settings.timeout_s,
                              json={"query": query, "variables": variables}, headers=headers)
        check_response(response)
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
        node = (payload.get("codeDiscountNode") or {}).get("id") or "taken"
        return SendResult(provider_id=str(node)[:128])

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()
