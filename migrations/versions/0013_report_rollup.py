"""reports: daily roll-up of customer messages, its change log and triggers (#14, #15)

Revision ID: rollup01
Revises: versions1
Create Date: 2026-12-02

The triggers log a notification whose counted columns change (or that is inserted or
deleted) when its ``detected_at`` is before ``report_rollup_state.logged_until``: a day the
roll-up covers. Changes to rows of the open days (most of the dispatcher's writes) are not
logged: those days are counted live.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import notifier.store.types

revision: str = 'rollup01'
down_revision: str | None = 'versions1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The columns a report or the dashboard counts: a change to one of them is logged.
COUNTED = ("rule", "step", "kind", "arm", "status", "channel", "reason", "customer_id",
           "entity_id", "detected_at", "sent_at", "delivered_at", "bounced_at",
           "complained_at", "unsubscribed_at", "opened_at", "clicked_at", "converted_at",
           "conversion_revenue", "conversion_currency")
#: A change to one of these gives the customer's next row another previous row.
MOVED = ("rule", "kind", "arm", "customer_id", "entity_id", "detected_at")
BOUND = "(SELECT logged_until FROM report_rollup_state WHERE id = 1)"


def _changed(columns: Sequence[str], *, postgresql: bool) -> str:
    op_ = "IS DISTINCT FROM" if postgresql else "IS NOT"
    return " OR ".join(f"OLD.{c} {op_} NEW.{c}" for c in columns)


def _log(row: str, moved: str, when: str = "") -> str:
    return ("INSERT INTO report_changes (rule, detected_at, customer_id, entity_id, moved) "
            f"SELECT {row}.rule, {row}.detected_at, {row}.customer_id, {row}.entity_id, "
            f"{moved} WHERE {when}{row}.kind = 'message' AND {row}.detected_at < {BOUND};")


def _sqlite_triggers() -> list[str]:
    return [
        "CREATE TRIGGER report_log_insert AFTER INSERT ON notifications "
        f"BEGIN {_log('NEW', '1')} END",
        "CREATE TRIGGER report_log_delete AFTER DELETE ON notifications "
        f"BEGIN {_log('OLD', '1')} END",
        "CREATE TRIGGER report_log_update AFTER UPDATE ON notifications "
        f"WHEN {_changed(COUNTED, postgresql=False)} BEGIN "
        f"{_log('OLD', f'({_changed(MOVED, postgresql=False)})')} "
        f"{_log('NEW', '1', f'({_changed(MOVED, postgresql=False)}) AND ')} "
        "END",
    ]


def _postgresql_triggers() -> list[str]:
    moved = _changed(MOVED, postgresql=True)
    return [
        f"""CREATE FUNCTION report_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {_log('NEW', 'true')}
  ELSIF TG_OP = 'DELETE' THEN
    {_log('OLD', 'true')}
  ELSE
    {_log('OLD', f'({moved})')}
    IF {moved} THEN
      {_log('NEW', 'true')}
    END IF;
  END IF;
  RETURN NULL;
END $$""",
        "CREATE TRIGGER report_log_insert_delete AFTER INSERT OR DELETE ON notifications "
        "FOR EACH ROW EXECUTE FUNCTION report_log_change()",
        "CREATE TRIGGER report_log_update AFTER UPDATE ON notifications FOR EACH ROW "
        f"WHEN ({_changed(COUNTED, postgresql=True)}) EXECUTE FUNCTION report_log_change()",
    ]


def upgrade() -> None:
    op.create_table('report_days',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('arm', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('sent', sa.Integer(), nullable=False),
    sa.Column('delivered', sa.Integer(), nullable=False),
    sa.Column('bounced', sa.Integer(), nullable=False),
    sa.Column('complained', sa.Integer(), nullable=False),
    sa.Column('unsubscribed', sa.Integer(), nullable=False),
    sa.Column('opened', sa.Integer(), nullable=False),
    sa.Column('clicked', sa.Integer(), nullable=False),
    sa.Column('converted', sa.Integer(), nullable=False),
    sa.Column('revenue', sa.Numeric(precision=16, scale=4), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_report_days_day_rule', 'report_days', ['day', 'rule'], unique=False)
    op.create_table('report_firsts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('arm', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('prev_day', sa.Date(), nullable=True),
    sa.Column('subjects', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_report_firsts_rule_day', 'report_firsts', ['rule', 'day', 'arm'],
                    unique=False)
    op.create_table('report_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('detected_at', notifier.store.types.UTCDateTime(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.Column('moved', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('report_rollup_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('rolled_until', sa.Date(), nullable=True),
    sa.Column('logged_until', notifier.store.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(
            'ix_notifications_converted_rows',
            ['rule', 'detected_at', 'kind', 'arm', 'customer_id', 'entity_id',
             'conversion_revenue', 'conversion_currency'], unique=False,
            sqlite_where=sa.text('converted_at IS NOT NULL'),
            postgresql_where=sa.text('converted_at IS NOT NULL'))
        batch_op.create_index(
            'ix_notifications_anonymous', ['rule', 'entity_id', 'detected_at'], unique=False,
            sqlite_where=sa.text('customer_id IS NULL'),
            postgresql_where=sa.text('customer_id IS NULL'))
    bind = op.get_bind()
    triggers = (_postgresql_triggers() if bind.dialect.name == 'postgresql'
                else _sqlite_triggers())
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS report_log_update ON notifications")
        op.execute("DROP TRIGGER IF EXISTS report_log_insert_delete ON notifications")
        op.execute("DROP FUNCTION IF EXISTS report_log_change()")
    else:
        for name in ("report_log_insert", "report_log_delete", "report_log_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_anonymous')
        batch_op.drop_index('ix_notifications_converted_rows')
    op.drop_table('report_rollup_state')
    op.drop_table('report_changes')
    op.drop_index('ix_report_firsts_rule_day', table_name='report_firsts')
    op.drop_table('report_firsts')
    op.drop_index('ix_report_days_day_rule', table_name='report_days')
    op.drop_table('report_days')
