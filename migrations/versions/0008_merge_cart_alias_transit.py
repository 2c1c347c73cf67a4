"""merge heads: carts.alias (recur01) and transit models (predict_0001) landed in parallel

Revision ID: recur02
Revises: recur01, predict_0001
Create Date: 2026-12-01
"""
from collections.abc import Sequence

revision: str = 'recur02'
down_revision: str | tuple[str, ...] | None = ('recur01', 'predict_0001')
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
