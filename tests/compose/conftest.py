"""Fixtures for the compose stage: the shipped templates, a shop, and scratch templates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from notifier.compose import Composer
from notifier.config import ShopSettings

SHIPPED_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

WriteTemplates = Callable[[dict[str, str]], Path]


@pytest.fixture
def shop() -> ShopSettings:
    return ShopSettings(
        name="Sklep Testowy",
        support_email="pomoc@sklep.example.com",
        support_phone="+48 22 123 45 67",
        contact_url="https://sklep.example.com/kontakt",
    )


@pytest.fixture
def composer(shop: ShopSettings) -> Composer:
    return Composer(SHIPPED_TEMPLATES, shop, from_addr="Sklep <sklep@example.com>")


@pytest.fixture
def write_templates(tmp_path: Path) -> WriteTemplates:
    """Write ``{relative path: text}`` under a fresh templates dir and return the dir."""
    root = tmp_path / "templates"

    def write(files: dict[str, str]) -> Path:
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        root.mkdir(exist_ok=True)
        return root

    return write
