from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from notifier.app import create_app
from notifier.runtime import Runtime


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client
