"""Fixtures for browser tests: the real app under uvicorn, driven by Debian's Chromium.

Playwright drives ``/usr/bin/chromium`` (``apt-get install chromium``); it never downloads a
browser of its own. When Chromium is missing these tests skip, except under CI (``CI`` set),
where they fail, as the PostgreSQL tests do.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, sync_playwright

from notifier.app import create_app
from notifier.runtime import Runtime

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
START_TIMEOUT_S = 10.0


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not os.access(CHROMIUM, os.X_OK):
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: browser tests must run)")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    """One headless Chromium per module; each test opens its own context (fresh cookies)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), headless=True,
                                              args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def live_url(runtime: Runtime) -> Iterator[str]:
    """The real app served by uvicorn on 127.0.0.1 in a background thread; its base URL."""
    # Bound here and handed to uvicorn, so no other process can take the port in between.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        with serving(runtime, sock) as url:
            yield url
    finally:
        sock.close()


@contextmanager
def serving(runtime: Runtime, sock: socket.socket) -> Iterator[str]:
    """The app under uvicorn on an already bound socket, until the block ends; its URL."""
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        _wait_until_healthy(url, thread)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)


def _wait_until_healthy(url: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(trust_env=False, timeout=1.0) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(url + "/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            thread.join(timeout=0.05)  # a pause between polls that also notices a crash
            if not thread.is_alive():
                pytest.fail("uvicorn stopped before answering /healthz")
    pytest.fail(f"{url}/healthz did not answer 200 within {START_TIMEOUT_S:.0f} s")
