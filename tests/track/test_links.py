"""The pure link rewrite and the compact signed token (table-driven, no database)."""

from __future__ import annotations

import pytest

from notifier.compose import sms
from notifier.domain import EmailMessage, PushMessage, PushSubscription, SmsMessage
from notifier.track.links import (
    link_token,
    open_token,
    parse_link_token,
    parse_open_token,
    rewrite,
)

SECRET = "s3cret"
BASE = "https://n.example"


def url_for(i: int) -> str:
    return f"{BASE}/r/{link_token(7, i, SECRET)}"


@pytest.mark.parametrize(("nid", "index"), [(1, 0), (123, 2), (10**9, 35)])
def test_token_round_trip(nid: int, index: int) -> None:
    token = link_token(nid, index, SECRET)
    assert parse_link_token(token, SECRET) == (nid, index)
    assert token == link_token(nid, index, SECRET)  # stable: a re-render is identical
    assert all(ch.isalnum() or ch in ".-_" for ch in token)


@pytest.mark.parametrize("forged", [
    "", "abc", "1.0.AAAAAAAA", link_token(1, 0, "other"),
    link_token(1, 0, SECRET).replace("1.0.", "2.0."), link_token(1, 0, SECRET) + "x",
])
def test_forged_tokens_are_refused(forged: str) -> None:
    assert parse_link_token(forged, SECRET) is None


def test_open_token_is_not_a_link_token() -> None:
    assert parse_open_token(open_token(5, SECRET), SECRET) == 5
    assert parse_link_token(open_token(5, SECRET) + ".x", SECRET) is None
    assert parse_open_token(link_token(5, 0, SECRET), SECRET) is None


def test_email_links_rewritten_same_url_same_index_unsubscribe_kept() -> None:
    message = EmailMessage(
        to="a@example.pl", subject="s",
        text="Koszyk: https://shop.example/cart?a=1&b=2. Wypisz: https://n.example/u/tok",
        html='<a href="https://shop.example/cart?a=1&amp;b=2">x</a>'
             '<a href="https://shop.example/help">h</a><a href="https://n.example/u/tok">u</a>'
             "</body>")
    tracked = rewrite(message, url_for=url_for, keep=(f"{BASE}/u/",),
                      pixel=f"{BASE}/o/p.gif")
    assert tracked.urls == ("https://shop.example/cart?a=1&b=2", "https://shop.example/help")
    out = tracked.message
    assert isinstance(out, EmailMessage)
    assert f"Koszyk: {url_for(0)}." in out.text and "https://n.example/u/tok" in out.text
    assert f'href="{url_for(0)}"' in out.html and f'href="{url_for(1)}"' in out.html
    assert 'href="https://n.example/u/tok"' in out.html
    assert out.html.endswith('<img src="https://n.example/o/p.gif" width="1" height="1" '
                             'alt="" style="display:none"></body>')


def test_sms_keeps_its_segment_count() -> None:
    long_link = "https://sklep.example.pl/koszyk/odzyskaj?token=" + "x" * 60
    body = f"Twoj koszyk czeka: {long_link}"
    size = sms.measure(body)
    tracked = rewrite(SmsMessage(to="+48600100200", body=body, segments=size.segments),
                      url_for=url_for)
    assert isinstance(tracked.message, SmsMessage)
    assert tracked.urls == (long_link,)
    assert tracked.message.body == f"Twoj koszyk czeka: {url_for(0)}"
    assert tracked.message.segments <= size.segments


def test_sms_that_would_grow_keeps_its_link() -> None:
    body = "x" * 150 + " https://a.pl"
    message = SmsMessage(to="+48600100200", body=body, segments=1)
    tracked = rewrite(message, url_for=url_for)
    assert tracked.message == message and tracked.urls == ()


def test_push_url_goes_through_the_redirect() -> None:
    message = PushMessage(to=PushSubscription(endpoint="https://push.example/1"), title="t",
                          body="b", url="https://shop.example/order/1")
    tracked = rewrite(message, url_for=url_for)
    assert isinstance(tracked.message, PushMessage)
    assert tracked.message.url == url_for(0) and tracked.urls == ("https://shop.example/order/1",)
