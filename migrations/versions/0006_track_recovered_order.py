"""carts.recovered_order_id: the order that brought a recovered cart back (#13)

Revision ID: track02
Revises: reports01
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'track02'
down_revision: str | None = 'reports01'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('carts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recovered_order_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_carts_recovered_order_id', 'orders',
                                    ['recovered_order_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('carts', schema=None) as batch_op:
        batch_op.drop_constraint('fk_carts_recovered_order_id', type_='foreignkey')
        batch_op.drop_column('recovered_order_id')
