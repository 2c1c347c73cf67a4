"""one outbox: every delivery is a notifications row (kind, payload); outbound_deliveries goes

Revision ID: outbox01
Revises: reports02
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import notifier.store.types


revision: str = 'outbox01'
down_revision: str | None = 'reports02'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16),
                                      server_default='message', nullable=False))
        batch_op.add_column(sa.Column('payload', sa.Text(), nullable=True))
    # Webhooks and shop calls still queued move into the one outbox, due as they were.
    bind = op.get_bind()
    old = sa.table('outbound_deliveries', *(sa.column(c) for c in (
        'id', 'target', 'event', 'payload', 'status', 'attempts', 'next_attempt_at',
        'last_error', 'created_at')))
    new = sa.table('notifications', *(sa.column(c) for c in (
        'key', 'rule', 'step', 'entity_kind', 'entity_id', 'template', 'purpose', 'status',
        'reason', 'due_at', 'attempts', 'detected_at', 'days_late', 'recipient', 'kind',
        'payload')), sa.column('channels', sa.JSON), sa.column('channel'))
    queued = bind.execute(sa.select(old).where(old.c.status.in_(('pending', 'sending'))))
    for row in queued.mappings().all():
        kind = 'shopify' if row['target'] == 'shopify' else 'webhook'
        bind.execute(new.insert().values(
            key=f"outbound:{row['id']}", rule='', step=0, entity_kind='outbound',
            entity_id=row['id'], template=row['event'], purpose='internal', status='pending',
            reason=row['last_error'], due_at=row['next_attempt_at'], attempts=row['attempts'],
            detected_at=row['created_at'], days_late=0, recipient=row['target'], kind=kind,
            payload=row['payload'], channels=[kind], channel=kind))
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_column('delivery_id')
    with op.batch_alter_table('outbound_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_outbound_deliveries_due')
    op.drop_table('outbound_deliveries')


def downgrade() -> None:
    op.create_table('outbound_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('dedupe_key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', notifier.store.types.UTCDateTime(), nullable=False),
    sa.Column('lease_until', notifier.store.types.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', notifier.store.types.UTCDateTime(), nullable=False),
    sa.Column('delivered_at', notifier.store.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    with op.batch_alter_table('outbound_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_outbound_deliveries_due', ['status', 'next_attempt_at'],
                              unique=False)
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('escalations_delivery_id_fkey', 'outbound_deliveries',
                                    ['delivery_id'], ['id'], ondelete='SET NULL')
    op.execute("DELETE FROM notifications WHERE kind <> 'message'")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('payload')
        batch_op.drop_column('kind')
