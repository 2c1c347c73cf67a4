"""Shared helpers for turning raw bodies into validated records with named faults.

A body is refused before any mapping sees it when it is not UTF-8 JSON (RFC 8259 makes
UTF-8 the only encoding between systems; ``json.loads`` on bytes would quietly accept
UTF-16 and store it garbled), when it nests deeper than :data:`MAX_DEPTH`, or when a
string carries a NUL character (PostgreSQL text cannot hold one, and no message needs
one). Each refusal names the field at fault.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from notifier.errors import PayloadError

M = TypeVar("M", bound=BaseModel)

# Shopify's deepest documented payload (an order's line item tax lines) is six levels.
MAX_DEPTH = 32


def decode_json(body: bytes) -> Any:
    """The JSON value of a UTF-8 body, checked by :func:`check_tree`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"body must be UTF-8 encoded JSON: byte {exc.start} is not UTF-8",
                           field="body", status_code=400) from exc
    return decode_text(text)


def decode_text(text: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"malformed JSON: {exc}", field="body", status_code=400) from exc
    except RecursionError as exc:
        raise PayloadError(f"JSON nested deeper than {MAX_DEPTH} levels", field="body",
                           status_code=400) from exc
    # The full walk names the path at fault; most bodies need neither check. A NUL can only
    # arrive escaped (json.loads refuses raw control characters), and the depth is checked
    # over containers alone.
    if "\\u0000" in text or (_containers(text) > MAX_DEPTH and not _shallow(value, 0)):
        check_tree(value)
    return value


def _containers(text: str) -> int:
    """At least the number of objects and arrays in ``text`` (brackets inside strings are
    counted too), so at least its nesting depth: an order has fewer than MAX_DEPTH and
    is not walked."""
    return text.count("{") + text.count("[")


def _shallow(node: Any, depth: int) -> bool:
    """No value under ``node`` (at ``depth``) is deeper than :data:`MAX_DEPTH`."""
    if isinstance(node, dict):
        children: Any = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return True
    if not children:
        return True
    if depth >= MAX_DEPTH:
        return False
    return all(_shallow(child, depth + 1) for child in children
               if isinstance(child, (dict, list)))


def check_tree(value: Any) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` and NUL characters, naming the path.

    Walks iteratively so a deep value cannot exhaust the stack here either."""
    stack: list[tuple[Any, tuple[int | str, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise PayloadError(f"{field_path(path[:MAX_DEPTH])}: nested deeper than "
                               f"{MAX_DEPTH} levels", field=field_path(path[:MAX_DEPTH]))
        if isinstance(node, str):
            if "\x00" in node:
                raise PayloadError(f"{field_path(path)}: NUL character not allowed",
                                   field=field_path(path))
        elif isinstance(node, Mapping):
            for key, child in node.items():
                if "\x00" in key:
                    raise PayloadError(f"{field_path(path)}: NUL character in a key",
                                       field=field_path(path))
                stack.append((child, (*path, key)))
        elif isinstance(node, list):
            stack.extend((child, (*path, i)) for i, child in enumerate(node))


def stored_text(body: bytes) -> str:
    """The raw body as text for the inbound-event log: UTF-8 as it came; bytes that are not
    UTF-8 kept as ``\\xNN`` escapes and NUL as ``\\x00``, so the row can always be written
    and the original recovered."""
    return body.decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")


def field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def validate(model: type[M], data: Any, *, context: dict[str, Any] | None = None,
             prefix: str = "", names: Mapping[str, str] | None = None) -> M:
    """``model.model_validate`` whose failure names the first field at fault.

    ``names`` translates our field paths back into the sender's (``items`` ->
    ``line_items``; ``*`` matches a list index), so a platform's developer reads the field
    of their own payload."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        path = field_path(translate(loc, names) if names else loc)
        if prefix:
            path = f"{prefix}.{path}" if path != "body" else prefix
        raise PayloadError(f"{path}: {first['msg']}", field=path) from exc


def translate(loc: tuple[int | str, ...], names: Mapping[str, str]) -> tuple[int | str, ...]:
    """The sender's location for ours: the longest prefix of ``loc`` that ``names`` knows
    (as a pattern, ``*`` for a list index) is replaced by its sender's path, whose ``*``
    take the prefix's indices in order; the rest is kept.

        translate(("items", 0, "quantity"), {"items": "line_items"})
        -> ("line_items", 0, "quantity")
    """
    for end in range(len(loc), 0, -1):
        head = loc[:end]
        pattern = ".".join("*" if isinstance(p, int) else str(p) for p in head)
        if pattern not in names:
            continue
        indices = iter(p for p in head if isinstance(p, int))
        theirs = [next(indices, 0) if p == "*" else p for p in names[pattern].split(".") if p]
        return (*theirs, *loc[end:])
    return loc
