"""A local stand-in for BaseLinker's API (``connector.php``), spoken to over real HTTP.

    with FakeBaseLinker(token="bl-token") as bl:
        settings = make_settings(..., baselinker={"token": "bl-token", "api_url": bl.api_url})
        bl.add_order(order(1001))                 # also journals "order created"
        bl.add_package(1001, package(5001), [history(2, at)])
        bl.script(FakeBaseLinker.error("ERROR_REQUESTS_LIMIT", "Query limit exceeded"))
        bl.calls("getOrders")                     # parameters of every getOrders call

Like the real API: one POST endpoint, form fields ``method`` and ``parameters`` (JSON),
the token in ``X-BLToken`` (a wrong one gets ``ERROR_BAD_TOKEN``); answers are HTTP 200
with ``status`` ``SUCCESS`` or ``ERROR`` + ``error_code`` + ``error_message``. The journal
keeps ``retention`` (72 h) before :attr:`now` and answers events after ``last_log_id``,
at most 100 at a time. ``getOrders`` returns 100 orders at most, ordered by confirmation
date. Scripted replies (:meth:`script`) answer the next authorised calls.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.http import FakeHttpServer, Recorded, Reply

PATH = "/connector.php"


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


def order(order_id: int, *, confirmed_at: datetime, status_id: int = 1051,
          **fields: Any) -> dict[str, Any]:
    """A getOrders order shaped like BaseLinker's sample: strings for flags and numbers."""
    base: dict[str, Any] = {
        "order_id": order_id, "shop_order_id": 0, "external_order_id": "",
        "order_source": "shop", "order_source_id": 1, "order_source_info": "-",
        "order_status_id": status_id, "confirmed": True,
        "date_add": ts(confirmed_at) - 60, "date_confirmed": ts(confirmed_at),
        "date_in_status": ts(confirmed_at),
        "user_login": "", "phone": "600 100 200", "email": "anna@example.pl",
        "user_comments": "", "admin_comments": "", "currency": "PLN",
        "payment_method": "Przelewy24", "payment_method_cod": "0", "payment_done": 0,
        "delivery_method": "Kurier InPost", "delivery_price": 15.0,
        "delivery_package_module": "", "delivery_package_nr": "",
        "delivery_fullname": "Anna Kowalska", "delivery_company": "",
        "delivery_address": "ul. Prosta 1", "delivery_city": "Warszawa",
        "delivery_postcode": "00-001", "delivery_country_code": "PL",
        "invoice_fullname": "Anna Kowalska", "want_invoice": "0",
        "products": [{"storage": "db", "storage_id": 0, "order_product_id": order_id * 10,
                      "product_id": "5434", "variant_id": 0, "name": "Kubek",
                      "attributes": "", "sku": "KUB-1", "ean": "", "location": "",
                      "warehouse_id": 0, "auction_id": "0", "price_brutto": 49.5,
                      "tax_rate": 23, "quantity": 2, "weight": 0.3}],
    }
    base.update(fields)
    return base


def package(package_id: int, *, number: str = "", status: int = 1, at: datetime | None = None,
            **fields: Any) -> dict[str, Any]:
    return {"package_id": package_id, "courier_package_nr": number or f"6200{package_id}",
            "courier_inner_number": "", "courier_code": "inpost", "courier_other_name": "",
            "account_id": 1, "tracking_status_date": ts(at) if at else 0,
            "tracking_delivery_days": 0, "tracking_status": status, "package_type": 0,
            "tracking_url": f"https://inpost.pl/sledzenie?number=6200{package_id}",
            "is_return": False, **fields}


def history(status: int, at: datetime, code: str = "") -> dict[str, Any]:
    return {"tracking_status_date": ts(at), "courier_status_code": code or f"S{status}",
            "tracking_status": status}


class FakeBaseLinker(FakeHttpServer):
    journal_page = 100
    orders_page = 100
    retention = timedelta(hours=72)

    def __init__(self, *, token: str, now: datetime | None = None) -> None:
        super().__init__()
        self.token = token
        self.now = now or datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        self.orders: dict[int, dict[str, Any]] = {}
        self.packages: dict[int, list[dict[str, Any]]] = {}
        self.histories: dict[int, list[dict[str, Any]]] = {}
        self.journal: list[dict[str, Any]] = []
        self.statuses = [{"id": 1051, "name": "Nowe", "name_for_customer": "Przyjęte"},
                         {"id": 1052, "name": "Wysłane", "name_for_customer": "Wysłane"},
                         {"id": 1053, "name": "Anulowane", "name_for_customer": "Anulowane"}]
        self.next_log_id = 7000

    @property
    def api_url(self) -> str:
        return self.url + PATH

    # -- building the account ------------------------------------------------------------

    def log(self, log_type: int, order_id: int, object_id: int = 0,
            at: datetime | None = None) -> int:
        self.next_log_id += 1
        self.journal.append({"log_id": self.next_log_id, "log_type": log_type,
                             "order_id": order_id, "object_id": object_id,
                             "date": ts(at or self.now)})
        return self.next_log_id

    def add_order(self, data: dict[str, Any], *, journal: bool = True) -> None:
        self.orders[data["order_id"]] = data
        if journal:
            self.log(1, data["order_id"])

    def set_status(self, order_id: int, status_id: int) -> None:
        self.orders[order_id].update(order_status_id=status_id, date_in_status=ts(self.now))
        self.log(18, order_id, status_id)

    def add_package(self, order_id: int, data: dict[str, Any],
                    entries: list[dict[str, Any]] | None = None, *, journal: bool = True) -> None:
        self.packages.setdefault(order_id, []).append(data)
        self.histories[data["package_id"]] = list(entries or [])
        if journal:
            self.log(9, order_id, data["package_id"])

    def scan(self, package_id: int, entry: dict[str, Any]) -> None:
        """A courier scan: BaseLinker records it, its journal says nothing."""
        self.histories[package_id].append(entry)

    def calls(self, method: str) -> list[dict[str, Any]]:
        out = []
        for request in self.requests:
            form = request.form()
            if form.get("method") == method:
                out.append(json.loads(form.get("parameters") or "{}"))
        return out

    # -- replies ------------------------------------------------------------------------

    @staticmethod
    def error(code: str, message: str = "", *, status: int = 200,
              headers: dict[str, str] | None = None) -> Reply:
        return Reply(status, {"status": "ERROR", "error_code": code,
                              "error_message": message or code}, headers or {})

    @staticmethod
    def ok(**data: Any) -> Reply:
        return Reply(200, {"status": "SUCCESS", **data})

    def handle(self, request: Recorded) -> Reply:
        if request.method != "POST" or request.path != PATH:
            return Reply(404, "not found")
        if request.headers.get("X-BLToken") != self.token:
            return self.error("ERROR_BAD_TOKEN", "Invalid user token")
        form = request.form()
        method = form.get("method", "")
        try:
            params = json.loads(form.get("parameters") or "{}")
        except json.JSONDecodeError:
            return self.error("ERROR_BAD_PARAMETERS", "parameters: invalid JSON")
        if (scripted := self.take_scripted()) is not None:
            return scripted
        handler = getattr(self, f"_{method}", None)
        if not method or handler is None:
            return self.error("ERROR_UNKNOWN_METHOD", f"Unknown method: {method}")
        return handler(params)  # type: ignore[no-any-return]

    def _getJournalList(self, params: dict[str, Any]) -> Reply:
        after = int(params.get("last_log_id") or 0)
        types = set(params.get("logs_types") or [])
        oldest = ts(self.now - self.retention)
        logs = [e for e in self.journal
                if e["log_id"] > after and e["date"] >= oldest
                and (not types or e["log_type"] in types)]
        return self.ok(logs=logs[: self.journal_page])

    def _getOrders(self, params: dict[str, Any]) -> Reply:
        unconfirmed = bool(params.get("get_unconfirmed_orders"))
        found = [o for o in self.orders.values() if unconfirmed or o["confirmed"]]
        if "order_id" in params:
            found = [o for o in found if o["order_id"] == int(params["order_id"])]
        if "date_confirmed_from" in params:
            start = int(params["date_confirmed_from"])
            found = [o for o in found if o["confirmed"] and o["date_confirmed"] >= start]
        found.sort(key=lambda o: (o["date_confirmed"], o["order_id"]))
        return self.ok(orders=found[: self.orders_page])

    def _getOrderPackages(self, params: dict[str, Any]) -> Reply:
        return self.ok(packages=self.packages.get(int(params["order_id"]), []))

    def _getCourierPackagesStatusHistory(self, params: dict[str, Any]) -> Reply:
        ids = [int(i) for i in params.get("package_ids") or []]
        if len(ids) > 100:
            return self.error("ERROR_PACKAGES_LIMIT", "Maximum 100 packages")
        return self.ok(packages_history={str(i): self.histories.get(i, []) for i in ids})

    def _getOrderStatusList(self, params: dict[str, Any]) -> Reply:
        return self.ok(statuses=self.statuses)
