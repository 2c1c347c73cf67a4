"""Template and rule sets as text: read from a directory, written to one, hashed.

A *set* is a flat mapping of paths to text, relative to ``templates/`` or ``rules/``
(``order_unshipped/pl/sms.txt``, ``cart-abandoned.toml``). Templates are grouped by their
top-level folder (a message, ``_layouts``, ``_partials``), rules by file stem: each group is
one *name*, the unit that is versioned. Text is kept byte for byte (read and written as
UTF-8 bytes, no newline translation), so an export of an import is the same files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Literal

Kind = Literal["template", "rule"]
KINDS: tuple[Kind, ...] = ("template", "rule")
Files = dict[str, str]


class SetProblems(Exception):
    """A directory could not be read as a set; ``problems`` lists ``path: reason`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def name_of(kind: Kind, path: str) -> str:
    """The versioned unit a path belongs to: its top folder (templates) or stem (rules)."""
    if kind == "rule":
        return PurePosixPath(path).name.removesuffix(".toml")
    return path.split("/", 1)[0]


def path_problem(kind: Kind, name: str, path: str) -> str | None:
    """Why ``path`` cannot be a file of ``name`` (None when it can)."""
    pure = PurePosixPath(path)
    if "\\" in path or pure.is_absolute() or any(p in ("", ".", "..") for p in path.split("/")):
        return f"{path}: not a plain relative path"
    if any(part.startswith(".") for part in pure.parts):
        return f"{path}: hidden files are not stored"
    if kind == "rule":
        return None if path == f"{name}.toml" else f"{path}: a rule is one file, {name}.toml"
    if len(pure.parts) < 2 or pure.parts[0] != name:
        return f"{path}: must lie inside {name}/"
    return None


def name_problem(kind: Kind, name: str) -> str | None:
    if not name or "/" in name or "\\" in name or name.startswith(".") or len(name) > 128:
        return f"{name!r}: not a {kind} name"
    return None


def read_dir(kind: Kind, root: Path, *, skipped: list[str] | None = None) -> Files:
    """Every file of a set under ``root``: all files below templates/ (hidden ones left
    out), the ``*.toml`` files of rules/. Raises :class:`SetProblems` for a file that is
    not UTF-8 or lies outside any message folder, unless ``skipped`` is given: then such
    files are left out and named there (the first start takes what it can)."""
    root = Path(root)
    if not root.is_dir():
        raise SetProblems([f"{root}: not a directory"])
    found: Files = {}
    problems: list[str] = []
    paths = sorted(root.glob("*.toml")) if kind == "rule" else sorted(root.rglob("*"))
    for path in paths:
        relative = path.relative_to(root).as_posix()
        if not path.is_file() or any(p.startswith(".") for p in relative.split("/")):
            continue
        if kind == "template" and "/" not in relative:
            problems.append(f"{path}: not inside a message folder (templates/<name>/...)")
            continue
        try:
            found[relative] = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{path}:1: not UTF-8 text ({exc.reason} at byte {exc.start})")
    if problems and skipped is None:
        raise SetProblems(problems)
    if skipped is not None:
        skipped.extend(problems)
    return found


def grouped(kind: Kind, files: Mapping[str, str]) -> dict[str, Files]:
    """A flat set split into its names."""
    out: dict[str, Files] = {}
    for path, text in files.items():
        out.setdefault(name_of(kind, path), {})[path] = text
    return out


def digest(files: Mapping[str, str]) -> str:
    """A hash of the whole set: the same text gives the same directory name everywhere."""
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.encode() + b"\0" + files[path].encode() + b"\0")
    return h.hexdigest()


def write_dir(files: Mapping[str, str], root: Path) -> None:
    """Write a set below ``root`` (created), byte for byte."""
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))


def materialise(files: Mapping[str, str], parent: Path, prefix: str) -> Path:
    """The set as ``parent/<prefix>-<digest>``, written once and never changed after:
    several processes on one machine may share it, a worker renders from it until the
    next publish."""
    target = parent / f"{prefix}-{digest(files)[:20]}"
    if target.is_dir():
        return target
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{prefix}-", dir=parent))
    write_dir(files, staging)
    try:
        os.rename(staging, target)
    except OSError:  # another process wrote the same set first
        shutil.rmtree(staging, ignore_errors=True)
        if not target.is_dir():
            raise
    return target
