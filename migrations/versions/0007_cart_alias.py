"""carts.alias: another id the source knows a cart by (Shopify's cart_token) (#10)

Revision ID: recur01
Revises: track02
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = 'recur01'
down_revision: str | None = 'track02'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('carts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alias', sqlmodel.sql.sqltypes.AutoString(length=128),
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_carts_alias'), ['alias'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('carts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_carts_alias'))
        batch_op.drop_column('alias')
