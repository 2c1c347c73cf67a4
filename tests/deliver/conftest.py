from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.fakes.smtp import SmtpSink


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings in tests are built explicitly; NOTIFIER_* or TWILIO_* from a developer's
    # shell must not leak in.
    for name in list(os.environ):
        if name.startswith(("NOTIFIER_", "TWILIO_")):
            monkeypatch.delenv(name)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()
