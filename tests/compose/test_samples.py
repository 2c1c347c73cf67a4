"""Sample data and --sample overrides."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from notifier.compose.context import OfferKind
from notifier.compose.samples import apply_overrides, load_sample_file, sample_context
from notifier.config import ShopSettings
from notifier.domain import LineItem, Purpose
from notifier.errors import TemplateError


def test_polish_and_english_samples() -> None:
    pl = sample_context("shipment_late", "pl", ShopSettings())
    en = sample_context("shipment_late", "en", ShopSettings())
    assert (pl.customer.first_name, pl.customer.last_name) == ("Anna", "Kowalska")
    assert en.customer.locale == "en_GB"
    assert pl.order is not None and pl.shipment is not None and pl.cart is None
    cart = sample_context("cart_reminder", "pl", ShopSettings())
    assert cart.cart is not None and cart.order is None and cart.purpose is Purpose.MARKETING


def test_toml_override(tmp_path: Path) -> None:
    path = tmp_path / "sample.toml"
    path.write_text(
        """
purpose = "marketing"
offer = false
now = "2025-12-02T08:00:00"

[customer]
first_name = "Paweł"
salutation = "mr"

[order]
total = "99.90"
items = [{ name = "Kubek", quantity = 3, price = "33.30" }]
""",
        encoding="utf-8",
    )
    ctx = apply_overrides(
        sample_context("shipment_late", "pl", ShopSettings()), load_sample_file(path)
    )
    assert ctx.offer is None
    assert ctx.purpose is Purpose.MARKETING
    assert ctx.now == datetime(2025, 12, 2, 8, 0, tzinfo=UTC)
    assert ctx.customer.first_name == "Paweł" and ctx.customer.last_name == "Kowalska"
    assert ctx.order.total == Decimal("99.90")
    assert ctx.order.items == (LineItem("Kubek", 3, Decimal("33.30")),)


def test_override_builds_a_missing_section() -> None:
    ctx = sample_context("cart_reminder", "pl", ShopSettings())
    ctx = apply_overrides(ctx, {"offer": None})
    ctx = apply_overrides(ctx, {"offer": {"code": "X", "kind": "percent", "value": 15}})
    assert ctx.offer is not None and ctx.offer.kind is OfferKind.PERCENT
    assert ctx.offer.value == Decimal(15)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"customer": {"frist_name": "A"}}, "unknown field"),
        ({"weather": "sunny"}, "unknown key"),
        ({"offer": {"code": "X", "kind": "bogus"}}, "offer.kind"),
        ({"order": {"total": "lots"}}, "order.total"),
        ({"customer": "Anna"}, "must be a table"),
    ],
)
def test_bad_overrides_are_explained(data: dict, match: str) -> None:
    with pytest.raises(TemplateError, match=match):
        apply_overrides(sample_context("shipment_late", "pl", ShopSettings()), data)
