"""Line numbers of keys in a TOML file, so a rule problem can say ``file:line``.

``tomllib`` gives values without positions. Rule files are small and plain, so a scan of
the raw text that follows table headers, ``[[array]]`` indexes and dotted keys, and skips
strings, comments and multi-line values, finds the line of every key a problem can name.
Keys inside inline tables are not tracked; they fall back to their table's line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

KeyPath = tuple[str | int, ...]

_PART = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_KEY = re.compile(rf"\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")
_PARTS = re.compile(_PART)


def _split(key: str) -> tuple[str, ...]:
    return tuple(part.strip("\"'") for part in _PARTS.findall(key))


class _Value:
    """Follows a value across lines: open brackets and multi-line strings."""

    def __init__(self) -> None:
        self.depth = 0
        self.quote = ""  # the open multi-line string delimiter, if any

    @property
    def open(self) -> bool:
        return self.depth > 0 or bool(self.quote)

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            if self.quote:
                end = text.find(self.quote, i)
                if end < 0:
                    return
                i, self.quote = end + 3, ""
                continue
            char = text[i]
            if char == "#":
                return
            if text.startswith(('"""', "'''"), i):
                self.quote, i = text[i : i + 3], i + 3
            elif char in "\"'":
                i = self._skip_string(text, i)
            else:
                self.depth += (char in "[{") - (char in "]}")
                i += 1

    @staticmethod
    def _skip_string(text: str, start: int) -> int:
        quote, i = text[start], start + 1
        while i < len(text) and text[i] != quote:
            i += 2 if quote == '"' and text[i] == "\\" else 1
        return i + 1


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map each key path to its 1-based line: ``("steps", 1, "delay") -> 14``.

    Tables map to their header line, ``[[array]]`` entries to ``(name, index)``.
    """
    lines: dict[KeyPath, int] = {}
    table: KeyPath = ()
    counts: dict[KeyPath, int] = {}
    value = _Value()
    for number, raw in enumerate(text.splitlines(), start=1):
        if value.open:
            value.feed(raw)
            continue
        stripped = raw.strip()
        if stripped.startswith("[[") and "]]" in stripped:
            name = _split(stripped[2 : stripped.index("]]")])
            counts[name] = counts.get(name, -1) + 1
            table = (*name, counts[name])
            lines.setdefault(name, number)
            lines[table] = number
        elif stripped.startswith("[") and "]" in stripped:
            table = _split(stripped[1 : stripped.index("]")])
            lines.setdefault(table, number)
        elif match := _KEY.match(raw):
            lines.setdefault((*table, *_split(match.group(1))), number)
            value.feed(raw[match.end() :])
    return lines


def line_of(lines: Mapping[KeyPath, int], path: Sequence[str | int]) -> int:
    """The line of ``path``, else of its nearest enclosing key or table, else 1."""
    for size in range(len(path), 0, -1):
        if (found := lines.get(tuple(path[:size]))) is not None:
            return found
    return 1
