"""Assemble a rendered email: CSS inlined, a one-line subject, unsubscribe headers.

Mail clients (Gmail above all) drop ``<style>`` blocks, so the CSS is inlined into
``style=""`` attributes and the ``<style>`` block removed. Marketing mail carries
``List-Unsubscribe`` with ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``
(RFC 8058), which large mailbox providers require of bulk senders.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import css_inline

from notifier.domain import EmailMessage


def inline_css(html: str) -> str:
    """Move the CSS of ``<style>`` blocks into ``style`` attributes; never fetch anything."""
    inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False)
    return inliner.inline(html)


def one_line(text: str) -> str:
    """Subjects and preheaders are a single line; a newline in a header is an injection.

    Only ASCII whitespace is collapsed: Babel's no-break spaces inside amounts stay.
    """
    return re.sub(r"[ \t\r\n\f\v]+", " ", text).strip()


def plain_text(text: str) -> str:
    """Trim trailing spaces and collapse runs of blank lines left by template logic."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def unsubscribe_headers(url: str, mailto: str | None = None) -> tuple[tuple[str, str], ...]:
    """``List-Unsubscribe`` (https first, then mailto) and the RFC 8058 one-click header."""
    targets = [f"<{url}>"]
    if mailto:
        targets.append(f"<mailto:{mailto}?subject={quote('unsubscribe')}>")
    return (
        ("List-Unsubscribe", ", ".join(targets)),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    )


def build_email(
    *,
    to: str,
    subject: str,
    preheader: str,
    html: str,
    text: str,
    from_addr: str,
    reply_to: str | None,
    unsubscribe_url: str | None,
    unsubscribe_mailto: str | None = None,
) -> EmailMessage:
    """An :class:`EmailMessage`; unsubscribe headers only when ``unsubscribe_url`` is set."""
    headers = unsubscribe_headers(unsubscribe_url, unsubscribe_mailto) if unsubscribe_url else ()
    return EmailMessage(
        to=to,
        subject=one_line(subject),
        text=plain_text(text),
        html=inline_css(html),
        preheader=one_line(preheader),
        from_addr=from_addr,
        reply_to=reply_to or "",
        headers=headers,
    )
