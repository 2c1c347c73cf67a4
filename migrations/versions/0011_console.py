"""console: users, audit log, rule settings, dashboard indexes

Revision ID: console1
Revises: outbox01
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import notifier.store.types

revision: str = 'console1'
down_revision: str | None = 'outbox01'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('console_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', notifier.store.types.UTCDateTime(), nullable=True),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('created_at', notifier.store.types.UTCDateTime(), nullable=False),
    sa.Column('last_login_at', notifier.store.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email')
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', notifier.store.types.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
    op.create_table('rule_settings',
    sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('rollout', sa.Float(), nullable=True),
    sa.Column('holdout', sa.Float(), nullable=True),
    sa.Column('updated_at', notifier.store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.PrimaryKeyConstraint('rule')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_detected',
                              ['detected_at', 'rule', 'status', 'channel'], unique=False)
        batch_op.create_index('ix_notifications_skipped', ['detected_at', 'rule', 'reason'],
                              unique=False, sqlite_where=sa.text("status = 'skipped'"),
                              postgresql_where=sa.text("status = 'skipped'"))
        batch_op.create_index(
            'ix_notifications_outcomes',
            ['detected_at', 'rule', 'status', 'clicked_at', 'converted_at',
             'conversion_revenue'], unique=False,
            sqlite_where=sa.text('clicked_at IS NOT NULL OR converted_at IS NOT NULL'),
            postgresql_where=sa.text('clicked_at IS NOT NULL OR converted_at IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_outcomes')
        batch_op.drop_index('ix_notifications_skipped')
        batch_op.drop_index('ix_notifications_detected')
    op.drop_table('rule_settings')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))
    op.drop_table('audit_log')
    op.drop_table('console_users')
