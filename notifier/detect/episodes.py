"""Episodes: which occurrence of a situation a notification is about.

A situation recurs: a cart is abandoned, touched again and abandoned again; a parcel has a
second failed delivery attempt; an order is re-promised and late again. Each trigger names
the moment that identifies the occurrence — its *episode* (the cart's last activity, the
broken promise, the carrier scan that reported the exception, ...) — and the episode joins
the notification's natural key::

    cart-abandoned:0:cart:42:20261201T101500Z

The same occurrence always yields the same key, so the database's unique constraint keeps
it to one notification whatever the number of ticks and workers; a new occurrence yields a
new key and its sequence starts again. A trigger defines its episode by returning it in
its :class:`~notifier.detect.triggers.Check`; one that gives none uses its anchor.

Keys written before episodes existed (``rule:step:kind:id``) are *legacy keys*: the scan
treats such a row as covering the occurrence it was detected in (see :func:`legacy_key`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_TOKEN = re.compile(r"\d{8}T\d{6}(?:\.\d{6})?Z")


def episode_token(episode: datetime) -> str:
    """The episode as it appears in keys: a compact UTC timestamp without ``:``."""
    at = episode if episode.tzinfo is UTC else episode.astimezone(UTC)
    micro = f".{at.microsecond:06d}" if at.microsecond else ""
    # Formatted by hand: strftime is several times slower, and a tick keys every claim.
    return (f"{at.year:04d}{at.month:02d}{at.day:02d}T{at.hour:02d}{at.minute:02d}"
            f"{at.second:02d}{micro}Z")


def notification_key(rule: str, step: int, kind: str, entity_id: int,
                     episode: datetime) -> str:
    """The natural key of a rule's step for one occurrence of one entity's situation."""
    return f"{legacy_key(rule, step, kind, entity_id)}:{episode_token(episode)}"


def legacy_key(rule: str, step: int, kind: str, entity_id: int) -> str:
    """The key as written before episodes: (rule, step, entity) only."""
    return f"{rule}:{step}:{kind}:{entity_id}"


def key_token(key: str) -> str | None:
    """The episode part of a notification key; None for a legacy (or foreign) key."""
    _, _, tail = key.rpartition(":")
    return tail if _TOKEN.fullmatch(tail) else None
