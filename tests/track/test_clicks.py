"""Tracked links end to end: engine sends, the app redirects, clicks are counted or flagged."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import select

from notifier.app import create_app
from notifier.clock import FrozenClock
from notifier.pipeline import Engine
from notifier.runtime import Runtime
from notifier.store.db import transaction
from notifier.store.tables import Notification
from notifier.store.track_tables import LinkClick, MessageLink
from notifier.track.clicks import store_links
from notifier.track.links import link_token
from tests.track.conftest import RECOVERY, SENT, sent_cart_email, text_of

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"


def redirect_paths(text: str) -> list[str]:
    return re.findall(r"https?://[^/\s]+(/r/[A-Za-z0-9._-]+)", text)


def state(runtime: Runtime, nid: int) -> tuple[Notification, list[LinkClick]]:
    with runtime.sessions() as session:
        n = session.get(Notification, nid)
        assert n is not None
        rows = list(session.exec(select(LinkClick).where(LinkClick.notification_id == nid)))
        return n, rows


async def test_email_links_redirect_to_stored_destination_and_count(
        runtime: Runtime, engine: Engine, clock: FrozenClock) -> None:
    n, msg = await sent_cart_email(runtime, engine, clock)
    paths = redirect_paths(text_of(msg))
    assert paths, "the cart email links through /r/"
    assert RECOVERY not in text_of(msg)
    assert "/o/" in text_of(msg, "text/html")  # open pixel in HTML only
    with runtime.sessions() as session:
        stored = {row.url for row in session.exec(select(MessageLink))}
    assert RECOVERY in stored

    client = TestClient(create_app(runtime))
    recovery_path = next(p for p in paths if _target(client, runtime, p) == RECOVERY)
    clock.set(SENT + timedelta(minutes=30))
    answer = client.get(recovery_path + "?url=https://evil.example/",
                        headers={"user-agent": BROWSER}, follow_redirects=False)
    assert answer.status_code == 302
    assert answer.headers["location"] == RECOVERY
    assert answer.headers["cache-control"] == "no-store"
    clock.set(SENT + timedelta(minutes=40))
    client.get(recovery_path, headers={"user-agent": BROWSER}, follow_redirects=False)
    after, rows = state(runtime, n.id or 0)
    assert after.clicks == 2 and after.clicked_at == SENT + timedelta(minutes=30)
    assert [r.flag for r in rows if not r.counted] == ["head"] * (len(rows) - 2)
    assert [r.method for r in rows if r.counted] == ["GET", "GET"]


def _target(client: TestClient, runtime: Runtime, path: str) -> str | None:
    # HEAD is what a link checker does: it redirects but is not counted.
    answer = client.head(path, follow_redirects=False)
    return answer.headers.get("location")


async def test_forged_or_unknown_token_answers_404(runtime: Runtime, engine: Engine,
                                                   clock: FrozenClock) -> None:
    n, msg = await sent_cart_email(runtime, engine, clock)
    [path, *_] = redirect_paths(text_of(msg))
    client = TestClient(create_app(runtime))
    forged = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    assert client.get(forged, follow_redirects=False).status_code == 404
    body, _, mac = path.removeprefix("/r/").rpartition(".")
    unknown = client.get(f"/r/{body.split('.')[0]}.z.{mac}", follow_redirects=False)
    assert unknown.status_code == 404
    assert "nieprawidłowy" in unknown.text and "not valid" in unknown.text
    after, rows = state(runtime, n.id or 0)
    assert after.clicks == 0 and rows == []


async def test_scanners_are_recorded_but_not_counted(runtime: Runtime, engine: Engine,
                                                     clock: FrozenClock) -> None:
    n, msg = await sent_cart_email(runtime, engine, clock)
    [first] = sorted(set(redirect_paths(text_of(msg))))
    # A message with a second link (the shop's help page) beside the recovery link.
    with transaction(runtime.sessions) as session:
        store_links(session, notification_id=n.id or 0,
                    urls=[RECOVERY, "https://sklep.example.pl/pomoc"])
    secret = runtime.settings.server.secret_key.get_secret_value()
    paths = [first, f"/r/{link_token(n.id or 0, 1, secret)}"]
    client = TestClient(create_app(runtime))
    clock.set(SENT + timedelta(seconds=3))  # a gateway fetching on arrival
    client.get(paths[0], headers={"user-agent": BROWSER}, follow_redirects=False)
    clock.set(SENT + timedelta(minutes=5))
    client.head(paths[0], follow_redirects=False)
    client.get(paths[0], headers={"user-agent": "Mozilla/5.0 (compatible; Barracuda)"},
               follow_redirects=False)
    clock.set(SENT + timedelta(minutes=20))  # every link within a second: a scanner
    for path in paths:
        client.get(path, headers={"user-agent": BROWSER}, follow_redirects=False)
    after, rows = state(runtime, n.id or 0)
    assert [r.flag for r in rows] == ["too-soon", "head", "bot-agent",
                                      *["every-link"] * len(paths)]
    assert after.clicks == 0 and after.clicked_at is None

    clock.set(SENT + timedelta(hours=2))  # later, a person clicks one link
    client.get(paths[0], headers={"user-agent": BROWSER}, follow_redirects=False)
    after, _ = state(runtime, n.id or 0)
    assert after.clicks == 1 and after.clicked_at == SENT + timedelta(hours=2)


async def test_open_pixel_is_recorded_once(runtime: Runtime, engine: Engine,
                                           clock: FrozenClock) -> None:
    n, msg = await sent_cart_email(runtime, engine, clock)
    [pixel] = re.findall(r'src="https?://[^/"]+(/o/[^"]+)"', text_of(msg, "text/html"))
    client = TestClient(create_app(runtime))
    clock.set(SENT + timedelta(minutes=1))
    assert client.get(pixel).headers["content-type"] == "image/gif"
    clock.set(SENT + timedelta(minutes=9))
    client.get(pixel)
    after, _ = state(runtime, n.id or 0)
    assert after.opened_at == SENT + timedelta(minutes=1) and after.clicks == 0
