"""track stage: notification outcomes, receipts, links and clicks, contacts, surveys (#13)

Revision ID: track01
Revises: 0001
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import notifier.store.types


revision: str = 'track01'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('contacted_at', notifier.store.types.UTCDateTime(), nullable=False),
    sa.Column('received_at', notifier.store.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'external_id')
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_customer_at', ['customer_id', 'contacted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_order_id'), ['order_id'], unique=False)

    op.create_table('link_clicks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notification_id', sa.Integer(), nullable=False),
    sa.Column('link_index', sa.Integer(), nullable=False),
    sa.Column('at', notifier.store.types.UTCDateTime(), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('user_agent', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.Column('counted', sa.Boolean(), nullable=False),
    sa.Column('flag', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('link_clicks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_clicks_notification_id'), ['notification_id'], unique=False)

    op.create_table('message_links',
    sa.Column('notification_id', sa.Integer(), nullable=False),
    sa.Column('link_index', sa.Integer(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('notification_id', 'link_index')
    )
    op.create_table('receipt_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('notification_id', sa.Integer(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('bounce_kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('occurred_at', notifier.store.types.UTCDateTime(), nullable=False),
    sa.Column('received_at', notifier.store.types.UTCDateTime(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('provider', 'event_id')
    )
    with op.batch_alter_table('receipt_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receipt_events_notification_id'), ['notification_id'], unique=False)

    op.create_table('survey_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notification_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('answered_at', notifier.store.types.UTCDateTime(), nullable=False),
    sa.Column('changed_at', notifier.store.types.UTCDateTime(), nullable=True),
    sa.Column('changes', sa.Integer(), nullable=False),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.Column('escalated_at', notifier.store.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('notification_id')
    )
    with op.batch_alter_table('survey_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_answers_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_answers_order_id'), ['order_id'], unique=False)

    with op.batch_alter_table('carts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recovered_at', notifier.store.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('recovered_notification_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('recovered_via_link', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_foreign_key('fk_carts_recovered_notification_id', 'notifications', ['recovered_notification_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bounced_at', notifier.store.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('bounce_kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.add_column(sa.Column('complained_at', notifier.store.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('unsubscribed_at', notifier.store.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('deferred_at', notifier.store.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('opened_at', notifier.store.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('clicked_at', notifier.store.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('clicks', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('converted_at', notifier.store.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('conversion_order', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('conversion_revenue', sa.Numeric(precision=16, scale=4), nullable=True))
        batch_op.add_column(sa.Column('conversion_currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True))
        batch_op.add_column(sa.Column('converted_after_click', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('survey', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.add_column(sa.Column('rating', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_notifications_conversion_order', 'orders', ['conversion_order'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tracked_at', notifier.store.types.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_orders_tracked_at'), ['tracked_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_tracked_at'))
        batch_op.drop_column('tracked_at')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint('fk_notifications_conversion_order', type_='foreignkey')
        batch_op.drop_column('rating')
        batch_op.drop_column('survey')
        batch_op.drop_column('converted_after_click')
        batch_op.drop_column('conversion_currency')
        batch_op.drop_column('conversion_revenue')
        batch_op.drop_column('conversion_order')
        batch_op.drop_column('converted_at')
        batch_op.drop_column('clicks')
        batch_op.drop_column('clicked_at')
        batch_op.drop_column('opened_at')
        batch_op.drop_column('deferred_at')
        batch_op.drop_column('unsubscribed_at')
        batch_op.drop_column('complained_at')
        batch_op.drop_column('bounce_kind')
        batch_op.drop_column('bounced_at')

    with op.batch_alter_table('carts', schema=None) as batch_op:
        batch_op.drop_constraint('fk_carts_recovered_notification_id', type_='foreignkey')
        batch_op.drop_column('recovered_via_link')
        batch_op.drop_column('recovered_notification_id')
        batch_op.drop_column('recovered_at')

    with op.batch_alter_table('survey_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_answers_order_id'))
        batch_op.drop_index(batch_op.f('ix_survey_answers_customer_id'))

    op.drop_table('survey_answers')
    with op.batch_alter_table('receipt_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_receipt_events_notification_id'))

    op.drop_table('receipt_events')
    op.drop_table('message_links')
    with op.batch_alter_table('link_clicks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_clicks_notification_id'))

    op.drop_table('link_clicks')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contacts_order_id'))
        batch_op.drop_index('ix_contacts_customer_at')

    op.drop_table('contacts')
