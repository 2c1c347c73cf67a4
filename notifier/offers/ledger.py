"""Offers at a glance: per policy issued, redeemed, cost and budget; pools; the ledger.

The console's offers page and dashboard alerts read these (``notifier offers status``
prints the budget and pool part of the same figures).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from notifier.config import Settings
from notifier.offers import guards, pool
from notifier.offers.policies import load_policies
from notifier.store.offer_tables import Offer

BUDGET_NEAR = Decimal("0.8")


@dataclass(frozen=True)
class PolicySummary:
    name: str
    issued: int
    redeemed: int
    void: int
    cost: Decimal
    revenue: Decimal
    month: str
    month_spent: Decimal
    month_issued: int
    budget: Decimal | None
    pool_free: int | None
    pool_used: int | None
    pool_threshold: int

    @property
    def budget_near_cap(self) -> bool:
        return self.budget is not None and self.budget > 0 and \
            self.month_spent >= self.budget * BUDGET_NEAR

    @property
    def pool_low(self) -> bool:
        return self.pool_free is not None and self.pool_free <= self.pool_threshold


def policy_summaries(session: Session, settings: Settings, *, now: datetime,
                     start: datetime | None = None, end: datetime | None = None
                     ) -> list[PolicySummary]:
    """Each configured policy; issued/redeemed/cost over ``[start, end)`` when given."""
    month = now.astimezone(ZoneInfo(settings.shop.timezone)).strftime("%Y-%m")
    stmt = select(Offer.policy, Offer.status, sa.func.count(),
                  sa.func.coalesce(sa.func.sum(Offer.estimated_cost), 0),
                  sa.func.coalesce(sa.func.sum(Offer.revenue), 0)).group_by(
        Offer.policy, Offer.status)
    if start is not None:
        stmt = stmt.where(col(Offer.issued_at) >= start)
    if end is not None:
        stmt = stmt.where(col(Offer.issued_at) < end)
    counts: dict[str, dict[str, tuple[int, Decimal, Decimal]]] = {}
    for name, status, n, cost, revenue in session.execute(stmt).all():
        counts.setdefault(name, {})[status] = (n, Decimal(cost), Decimal(revenue))
    levels = pool.levels(session)
    out = []
    for name, policy in sorted(load_policies(settings.offers).items()):
        by = counts.get(name, {})
        spent, issued_month = guards.spent(session, policy=name, month=month)
        free, used = levels.get(name, (0, 0)) if policy.codes == "pool" else (None, None)
        out.append(PolicySummary(
            name=name, issued=sum(v[0] for v in by.values()),
            redeemed=by.get("redeemed", (0, 0, 0))[0], void=by.get("void", (0, 0, 0))[0],
            cost=sum((v[1] for k, v in by.items() if k != "void"), Decimal(0)),
            revenue=sum((v[2] for v in by.values()), Decimal(0)),
            month=month, month_spent=spent, month_issued=issued_month,
            budget=policy.monthly_budget, pool_free=free, pool_used=used,
            pool_threshold=policy.pool_low_threshold))
    return out


def ledger(session: Session, *, limit: int = 100, before_id: int | None = None) -> list[Offer]:
    stmt = select(Offer).order_by(col(Offer.id).desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(col(Offer.id) < before_id)
    return list(session.exec(stmt).all())
