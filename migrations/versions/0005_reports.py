"""reports: the arm each notification was assigned to, and the (rule, detected_at) index (#14)

Revision ID: reports01
Revises: channels1
Create Date: 2026-12-01
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = 'reports01'
down_revision: str | None = 'channels1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('arm', sqlmodel.sql.sqltypes.AutoString(length=8),
                                      nullable=True))
        batch_op.create_index('ix_notifications_rule_detected', ['rule', 'detected_at'],
                              unique=False)
    # Rows from before: the arm follows from how the scan recorded them. Superseded and
    # stale steps were never due, so they belong to no arm.
    op.execute("""
        UPDATE notifications SET arm = CASE
            WHEN status = 'held_out' THEN 'holdout'
            WHEN status = 'skipped' AND reason LIKE 'outside rollout%' THEN 'excluded'
            WHEN status = 'skipped' AND (reason LIKE 'superseded by step%'
                                         OR reason LIKE 'stale: due at%') THEN NULL
            ELSE 'treated' END
    """)


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_rule_detected')
        batch_op.drop_column('arm')
