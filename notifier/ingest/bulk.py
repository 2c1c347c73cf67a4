"""Bulk backfill from JSON Lines: ``{"type": "order", ...record}`` per line.

Lines are validated one by one and applied in batches (one transaction and a few
statements per batch, see batch.py: a commit per record would cap a backfill near 800
records/s). A bad line is reported with
its number and reason and never stops the rest: one the database refuses at apply time
rolls its batch back, and the batch is then applied line by line so only that line is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.exc import DataError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from notifier.config import Settings
from notifier.errors import PayloadError
from notifier.ingest.batch import BatchApplier, Batched
from notifier.ingest.payloads import decode_text, validate
from notifier.ingest.records import CartIn, CustomerIn, OrderIn, ShipmentIn
from notifier.store.db import transaction

RECORD_TYPES: dict[str, type[BaseModel]] = {
    "customer": CustomerIn,
    "order": OrderIn,
    "shipment": ShipmentIn,
    "cart": CartIn,
}


@dataclass
class ImportSummary:
    accepted: int = 0
    stale: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def parse_line(line: str, *, region: str) -> BaseModel:
    data = decode_text(line)
    if not isinstance(data, dict):
        raise PayloadError("each line must be a JSON object", field="body")
    kind = data.pop("type", None)
    model = RECORD_TYPES.get(kind or "")
    if model is None:
        raise PayloadError(f"type must be one of {sorted(RECORD_TYPES)}, got {kind!r}",
                           field="type")
    return validate(model, data, context={"region": region})


def import_lines(
    lines: Iterable[str],
    *,
    factory: sessionmaker[Session],
    settings: Settings,
    now: datetime,
    source: str = "import",
    batch_size: int = 500,
    progress: Callable[[int], None] = lambda _n: None,
) -> ImportSummary:
    summary = ImportSummary()
    batch: list[tuple[int, BaseModel]] = []

    def apply(lines: list[tuple[int, BaseModel]]) -> None:
        with transaction(factory) as session:
            results = BatchApplier(session, settings).apply(
                [Batched(record, source, now) for _number, record in lines])  # type: ignore[arg-type]
            outcomes = [result.outcome for result in results]
        summary.stale += outcomes.count("stale")
        summary.accepted += len(outcomes) - outcomes.count("stale")

    def flush() -> None:
        if not batch:
            return
        try:
            apply(batch)
        except DataError:
            for one in batch:
                try:
                    apply([one])
                except DataError as exc:
                    summary.rejected.append((one[0], f"the database refused a value: {exc.orig}"))
        progress(len(batch))
        batch.clear()

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            batch.append((number, parse_line(line, region=settings.shop.country)))
        except PayloadError as exc:
            summary.rejected.append((number, str(exc)))
            progress(1)
            continue
        if len(batch) >= batch_size:
            flush()
    flush()
    summary.rejected.sort()
    return summary
