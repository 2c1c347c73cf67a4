"""A local stand-in for Shopify's Admin GraphQL API, as much as creating discount codes needs.

    with FakeShopifyAdmin(access_token="shpat_test") as shop:
        settings = make_settings(..., offers={"shopify": {"enabled": True,
                   "access_token": "shpat_test", "api_base_url": shop.url}})
        ...
        shop.discounts        # {"SORRY-...": {"mutation": "discountCodeBasicCreate", ...}}

It serves ``POST /admin/api/<version>/graphql.json``, answers 401 to a wrong
``X-Shopify-Access-Token``, creates ``discountCodeBasicCreate`` and
``discountCodeFreeShippingCreate`` discounts and, like Shopify, refuses a code that
exists with a ``TAKEN`` user error. Scripted replies come first.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from tests.fakes.http import FakeHttpServer, Recorded, Reply

_GRAPHQL = re.compile(r"/admin/api/(?P<version>[\w-]+)/graphql\.json")
_MUTATIONS = {"discountCodeBasicCreate": "basicCodeDiscount",
              "discountCodeFreeShippingCreate": "freeShippingCodeDiscount"}


class FakeShopifyAdmin(FakeHttpServer):
    def __init__(self, *, access_token: str) -> None:
        super().__init__()
        self.access_token = access_token
        self.discounts: dict[str, dict[str, Any]] = {}
        self.versions: list[str] = []
        self._ids = itertools.count(1)

    def handle(self, request: Recorded) -> Reply:
        if (scripted := self.take_scripted()) is not None:
            return scripted
        match = _GRAPHQL.fullmatch(request.path)
        if request.method != "POST" or match is None:
            return Reply(404, {"errors": "Not Found"})
        if request.headers["X-Shopify-Access-Token"] != self.access_token:
            return Reply(401, {"errors": "[API] Invalid API key or access token"})
        self.versions.append(match["version"])
        body = request.json()
        mutation = next((m for m in _MUTATIONS if m in body.get("query", "")), None)
        if mutation is None:
            return Reply(200, {"errors": [{"message": "unsupported operation"}]})
        discount = body["variables"]["discount"]
        code = discount.get("code", "")
        if code in self.discounts:
            errors = [{"field": [_MUTATIONS[mutation], "code"], "code": "TAKEN",
                       "message": "Code must be unique."}]
            return Reply(200, {"data": {mutation: {"codeDiscountNode": None,
                                                   "userErrors": errors}}})
        self.discounts[code] = {"mutation": mutation, **discount}
        node = {"id": f"gid://shopify/DiscountCodeNode/{next(self._ids)}"}
        return Reply(200, {"data": {mutation: {"codeDiscountNode": node, "userErrors": []}}})
