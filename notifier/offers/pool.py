"""Pools of codes made in the shop and imported, each handed out exactly once.

Taking a code is ``SELECT ... FOR UPDATE SKIP LOCKED`` on the oldest free one: concurrent
workers each lock a different row without waiting, and a code taken inside a transaction
that rolls back is free again. SQLite serialises writers, which gives the same guarantee.

A CSV file for ``notifier offers import-codes`` has one code per line, or a header with a
``code`` column and optionally a ``policy`` column (which overrides ``--policy``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from notifier.offers.codes import normalise_code
from notifier.store.offer_tables import Offer, OfferPoolCode
from notifier.store.sql import insert_ignore


@dataclass
class ImportSummary:
    imported: int = 0
    duplicates: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def read_codes(lines: Iterable[str], *, default_pool: str | None) -> Iterable[
        tuple[int, str, str | None]]:
    """(line number, code, pool) for every data line of a CSV file."""
    rows = list(csv.reader(lines))
    if not rows:
        return
    header = [h.strip().lower() for h in rows[0]]
    has_header = "code" in header
    code_at = header.index("code") if has_header else 0
    pool_at = header.index("policy") if has_header and "policy" in header else None
    for number, row in enumerate(rows[1:] if has_header else rows, start=2 if has_header else 1):
        if not row or not any(cell.strip() for cell in row):
            continue
        code = row[code_at].strip() if code_at < len(row) else ""
        pool = (row[pool_at].strip() or None) if pool_at is not None and pool_at < len(row) \
            else None
        yield number, code, pool or default_pool


def import_codes(session: Session, lines: Iterable[str], *, default_pool: str | None,
                 known_pools: set[str], now: datetime) -> ImportSummary:
    """Add the codes of a CSV file to their pools; a code already known is skipped."""
    summary = ImportSummary()
    for number, raw, pool in read_codes(lines, default_pool=default_pool):
        code = normalise_code(raw)
        if not code or len(code) > 64:
            summary.problems.append((number, f"not a code: {raw!r}"))
        elif pool is None:
            summary.problems.append((number, "no policy: give --policy or a policy column"))
        elif pool not in known_pools:
            summary.problems.append((number, f"unknown policy {pool!r}"))
        elif insert_ignore(session, OfferPoolCode,
                           {"pool": pool, "code": code, "imported_at": now}, keys=["code"]):
            summary.imported += 1
        else:
            summary.duplicates += 1
    return summary


def take_code(session: Session, *, pool: str, now: datetime) -> str | None:
    """Mark the oldest free code of ``pool`` used and return it; None when the pool is empty."""
    stmt = (
        select(OfferPoolCode)
        .where(OfferPoolCode.pool == pool, col(OfferPoolCode.used_at).is_(None))
        .order_by(col(OfferPoolCode.id))
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    row = session.exec(stmt).first()
    if row is None:
        return None
    row.used_at = now
    session.add(row)
    session.flush()
    return row.code


def give_back(session: Session, *, code: str) -> None:
    """Return a code to its pool (its offer was voided before anyone saw it)."""
    row = session.exec(select(OfferPoolCode).where(OfferPoolCode.code == code)).first()
    if row is not None:
        row.used_at = None
        session.add(row)


def remaining(session: Session, *, pool: str) -> int:
    stmt = select(func.count()).select_from(OfferPoolCode).where(
        OfferPoolCode.pool == pool, col(OfferPoolCode.used_at).is_(None))
    return int(session.exec(stmt).one())


def levels(session: Session) -> dict[str, tuple[int, int]]:
    """Every pool with (free, used) code counts."""
    stmt = select(OfferPoolCode.pool, col(OfferPoolCode.used_at).is_(None), func.count()) \
        .group_by(OfferPoolCode.pool, col(OfferPoolCode.used_at).is_(None))
    out: dict[str, tuple[int, int]] = {}
    for pool, free, count in session.exec(stmt).all():
        held = out.get(pool, (0, 0))
        out[pool] = (held[0] + count, held[1]) if free else (held[0], held[1] + count)
    return out


# One statement, built once: it runs for every generated code.
_CODE_IN_USE = (select(Offer.id).where(Offer.code == sa.bindparam("b_code"))
                .union_all(select(OfferPoolCode.id)
                           .where(OfferPoolCode.code == sa.bindparam("b_code")))
                .limit(1))


def code_in_use(session: Session, code: str) -> bool:
    """Whether ``code`` was issued or sits in a pool (generated codes must avoid both)."""
    return session.execute(_CODE_IN_USE, {"b_code": code}).first() is not None


def codes_in_use(session: Session, codes: Iterable[str]) -> set[str]:
    """Which of ``codes`` were issued or sit in a pool (one query for a batch)."""
    wanted = list(codes)
    if not wanted:
        return set()
    stmt = (select(Offer.code).where(col(Offer.code).in_(wanted))
            .union_all(select(OfferPoolCode.code).where(col(OfferPoolCode.code).in_(wanted))))
    return {code for (code,) in session.execute(stmt)}
