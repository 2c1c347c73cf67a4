"""What a worker renders and detects with: the published set as a local directory.

The compose and detect stages work from directories and never read the database, so a
worker writes the published set of each kind to ``<data_dir>/published/<kind>s-<hash>``
(content-addressed: written once, shared by the processes of one machine, never changed)
and points its Composer and RuleBook there. Each tick asks the database which version of
each name is live (one small query); only when that changed is the new set read and
written, so every worker on every machine uses the same published set from its next tick.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from notifier.authoring.files import Kind, materialise
from notifier.authoring.versions import live_files, live_ids


class PublishedSet:
    """The published set of one kind, as a directory kept current by :meth:`directory`."""

    def __init__(self, sessions: sessionmaker[Session], kind: Kind, parent: Path) -> None:
        self.sessions = sessions
        self.kind = kind
        self.parent = parent
        self.versions: dict[str, int] | None = None  # name -> live version id in use
        self.path: Path | None = None

    def directory(self) -> Path:
        """The directory of the set live now (re-read only when a version changed)."""
        with self.sessions() as session:
            ids = live_ids(session, self.kind)
            if ids == self.versions and self.path is not None:
                return self.path
            files = live_files(session, self.kind, ids)
        self.path = materialise(files, self.parent, f"{self.kind}s")
        self.versions = ids
        return self.path
