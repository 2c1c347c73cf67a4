"""Settings with storefront push capture switched on, shared by the push tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.config import Settings
from notifier.deliver.vapid import generate_vapid_keys
from notifier.ingest.customer_tokens import sign_customer_token
from tests.conftest import make_settings

SHOP_ORIGIN = "http://127.0.0.1:9"  # replaced by the browser test with its storefront's
TOKEN_SECRET = "shop-token-secret"
PUBLISHABLE_KEY = "pk_test_sklep"


def capture_settings(tmp_path: Path, db_url: str, origins: list[str],
                     **push: Any) -> Settings:
    vapid = generate_vapid_keys()
    return make_settings(
        tmp_path, database={"url": db_url},
        server={"public_url": "http://127.0.0.1:8000", "secret_key": "server-secret"},
        push={"transport": "webpush",
              "webpush": {"vapid_private_key": vapid.private_key,
                          "vapid_public_key": vapid.public_key},
              "capture": {"enabled": True, "publishable_key": PUBLISHABLE_KEY,
                          "allowed_origins": origins, "customer_token_secret": TOKEN_SECRET,
                          "customer_source": "shopify", "rate_limit_per_minute": 5,
                          "icon_url": "https://sklep.example.pl/icon.png"},
              **push})


def customer_token(external_id: str, now: datetime, *, valid_for: timedelta) -> str:
    return sign_customer_token(external_id, secret=TOKEN_SECRET, expires=now + valid_for)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return capture_settings(tmp_path, db_url, [SHOP_ORIGIN])
