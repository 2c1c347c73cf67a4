"""A local receiver of our signed outbound webhooks (a shop or helpdesk endpoint).

    with WebhookSink(secret="whsec") as sink:
        settings = make_settings(..., offers={"webhook": {"url": sink.url, "secret": "whsec"}})
        sink.script(Reply(503))           # the first delivery fails, later ones are accepted
        ...
        sink.events()                     # [("offer.issued", {...data...}), ...]
        sink.verified(now=now)            # every received signature checks out

It answers 200 unless scripted otherwise and checks nothing itself: tests verify the
signature with :func:`notifier.deliver.signing.verify`, as a real receiver would.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from notifier.deliver.signing import HEADER, verify
from tests.fakes.http import FakeHttpServer, Recorded, Reply


class WebhookSink(FakeHttpServer):
    def __init__(self, *, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def handle(self, request: Recorded) -> Reply:
        return self.take_scripted() or Reply(200, {"ok": True})

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """(event, data) of every request received, failed ones included."""
        return [(r.json()["event"], r.json()["data"]) for r in self.requests]

    def verified(self, *, now: datetime, tolerance_s: int = 300) -> bool:
        return bool(self.requests) and all(
            verify(self.secret, r.body, r.headers[HEADER], now=now, tolerance_s=tolerance_s)
            for r in self.requests)
