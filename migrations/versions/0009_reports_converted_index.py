"""reports: index on (rule, converted_at), so the bootstrap reads only converted rows (#14)

Revision ID: reports02
Revises: recur02
Create Date: 2026-12-01
"""
from collections.abc import Sequence

from alembic import op

revision: str = 'reports02'
down_revision: str | None = 'recur02'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_rule_converted', ['rule', 'converted_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_rule_converted')
