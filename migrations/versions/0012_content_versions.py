"""content versions: stored template and rule versions, the live one of each

Revision ID: versions1
Revises: console1
Create Date: 2026-12-02
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import notifier.store.types

revision: str = 'versions1'
down_revision: str | None = 'console1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('content_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('files', sa.JSON(), nullable=False),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', notifier.store.types.UTCDateTime(), nullable=False),
    sa.Column('published_at', notifier.store.types.UTCDateTime(), nullable=True),
    sa.Column('published_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'name', 'number', name='uq_content_versions_number')
    )
    op.create_table('content_live',
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('published_at', notifier.store.types.UTCDateTime(), nullable=False),
    sa.Column('published_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['content_versions.id'], ),
    sa.PrimaryKeyConstraint('kind', 'name')
    )


def downgrade() -> None:
    op.drop_table('content_live')
    op.drop_table('content_versions')
