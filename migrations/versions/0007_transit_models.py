"""transit models (versioned) and order destinations

Revision ID: predict_0001
Revises: track02
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import notifier.store.types

revision: str = 'predict_0001'
down_revision: str | None = 'track02'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'transit_models',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('fitted_at', notifier.store.types.UTCDateTime(), nullable=False),
        sa.Column('trained_from', notifier.store.types.UTCDateTime(), nullable=False),
        sa.Column('trained_to', notifier.store.types.UTCDateTime(), nullable=False),
        sa.Column('parcels', sa.Integer(), nullable=False),
        sa.Column('curves', sa.Integer(), nullable=False),
        sa.Column('model', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('version'),
    )
    with op.batch_alter_table('orders') as batch:
        batch.add_column(sa.Column('ship_country', sqlmodel.sql.sqltypes.AutoString(length=2),
                                   nullable=True))
        batch.add_column(sa.Column('ship_postcode',
                                   sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('orders') as batch:
        batch.drop_column('ship_postcode')
        batch.drop_column('ship_country')
    op.drop_table('transit_models')
