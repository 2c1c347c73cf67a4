from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifier.deliver.base import parse_retry_after, safe_filename

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("Thu, 26 Nov 2026 12:00:30 GMT", 30.0),
        ("Thu, 26 Nov 2026 11:59:00 GMT", 0.0),  # already past
        ("", None),
        (None, None),
        ("soon", None),
        ("-5", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("key", "prefix"),
    [
        ("order-1/shipped/email", "order-1_shipped_email-"),
        ("../../etc/passwd", "etc_passwd-"),
        ("zamówienie 7", "zam_wienie_7-"),
    ],
)
def test_safe_filename_is_readable_and_unique(key: str, prefix: str) -> None:
    name = safe_filename(key)

    assert name.startswith(prefix)
    assert safe_filename(key) == name
    assert safe_filename(key + "x") != name
