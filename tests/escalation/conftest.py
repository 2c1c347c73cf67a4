"""Escalation tests share the offer tests' database fixtures and row helpers."""

from tests.offers.conftest import sessions  # noqa: F401
