"""What a worker renders and detects with: the published set as a local directory.

The compose and detect stages work from directories and never read the database, so a
worker writes the published set of each kind to ``<data_dir>/published/<kind>s-<hash>``
(content-addressed: written once, shared by the processes of one machine, never changed)
and points its Composer and RuleBook there. Each tick asks the database which version of
each name is live (one small query); only when that changed is the new set read and
written, so every worker on every machine uses the same published set from its next tick.

A directory in use is touched every hour; one nobody touched for a day is removed when a
worker writes a new set, so publishing all day does not fill the disk.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from notifier.authoring.files import Kind, materialise
from notifier.authoring.versions import live_files, live_ids

TOUCH_EVERY_S = 3600.0
UNUSED_FOR_S = 86400.0


class PublishedSet:
    """The published set of one kind, as a directory kept current by :meth:`directory`.

    ``wall_clock`` (seconds) dates the directories for the clean-up only.
    """

    def __init__(self, sessions: sessionmaker[Session], kind: Kind, parent: Path, *,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.sessions = sessions
        self.kind = kind
        self.parent = parent
        self.wall_clock = wall_clock
        self.versions: dict[str, int] | None = None  # name -> live version id in use
        self.path: Path | None = None
        self._touched = 0.0

    @property
    def prefix(self) -> str:
        return f"{self.kind}s"

    def directory(self) -> Path:
        """The directory of the set live now (re-read only when a version changed)."""
        with self.sessions() as session:
            ids = live_ids(session, self.kind)
            if ids == self.versions and self.path is not None:
                self._touch(self.path)
                return self.path
            files = live_files(session, self.kind, ids)
        path = materialise(files, self.parent, self.prefix)
        self._touch(path, force=True)
        self.path, self.versions = path, ids
        self.prune()
        return path

    def _touch(self, path: Path, *, force: bool = False) -> None:
        now = self.wall_clock()
        if force or now - self._touched >= TOUCH_EVERY_S:
            os.utime(path, (now, now))
            self._touched = now

    def prune(self) -> list[Path]:
        """Remove this kind's directories (and half-written ones) unused for a day."""
        removed = []
        cutoff = self.wall_clock() - UNUSED_FOR_S
        for candidate in self.parent.glob(f"*{self.prefix}-*"):
            if candidate == self.path or not candidate.name.lstrip(".").startswith(
                    f"{self.prefix}-"):
                continue
            try:
                if candidate.stat().st_mtime < cutoff:
                    shutil.rmtree(candidate)
                    removed.append(candidate)
            except OSError:  # another worker removed it first
                continue
        return removed
