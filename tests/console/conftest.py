"""Console fixtures: one user per role, and a signed-in HTTP client for each."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from notifier.app import create_app
from notifier.console.auth import Role, add_user
from notifier.runtime import Runtime
from notifier.store.db import transaction
from tests.engine.conftest import engine  # noqa: F401  (the engine fixture, shared)

PASSWORD = "correct horse battery"
ROLES = tuple(r.value for r in Role)


def email_of(role: str) -> str:
    return f"{role}@shop.example"


@pytest.fixture
def users(runtime: Runtime) -> dict[str, str]:
    with transaction(runtime.sessions) as session:
        for role in ROLES:
            add_user(session, email=email_of(role), role=role, password=PASSWORD,
                     now=runtime.clock())
    return {role: email_of(role) for role in ROLES}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD,
            locale: str = "en") -> TestClient:
    page = client.get("/console/login", headers={"accept-language": locale})
    response = client.post("/console/login", data={
        "email": email, "password": password, "csrf": csrf_of(page.text),
        "next": "/console/"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as c:
        yield c
