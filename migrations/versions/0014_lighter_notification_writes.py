"""notifications: fewer index entries per new row; roll-up log per statement on PostgreSQL

Revision ID: detect14
Revises: rollup01
Create Date: 2026-12-02

A detection tick creates a notification per due case, and each new row went into nine
full indexes (#17). Three of them need no entry for it:

* ``ix_notifications_rule`` (rule) is the leading column of ``ix_notifications_rule_detected``,
  which serves every lookup by rule: dropped;
* ``provider_id`` is set when a message is sent and only ever looked up by value (receipts,
  provider reports), and ``(rule, converted_at)`` is read for converted rows only: both
  become partial (``... IS NOT NULL``), so an unsent, unconverted row enters neither.

On PostgreSQL the roll-up's change log for inserts and deletes runs once per statement over
its transition table (one ``INSERT ... SELECT`` for a scan batch) instead of a PL/pgSQL call
per row; it logs exactly the rows the row trigger logged. Updates keep the row trigger: its
``WHEN`` compares each row's old and new values. SQLite has no statement triggers.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'detect14'
down_revision: str | None = 'rollup01'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BOUND = "(SELECT logged_until FROM report_rollup_state WHERE id = 1)"


def _log_rows(function: str, rows: str) -> str:
    return f"""CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO report_changes (rule, detected_at, customer_id, entity_id, moved)
  SELECT r.rule, r.detected_at, r.customer_id, r.entity_id, true FROM {rows} r
  WHERE r.kind = 'message' AND r.detected_at < {BOUND};
  RETURN NULL;
END $$"""


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_rule')
        batch_op.drop_index('ix_notifications_provider_id')
        batch_op.drop_index('ix_notifications_rule_converted')
        batch_op.create_index(
            'ix_notifications_provider_id', ['provider_id'], unique=False,
            sqlite_where=sa.text('provider_id IS NOT NULL'),
            postgresql_where=sa.text('provider_id IS NOT NULL'))
        batch_op.create_index(
            'ix_notifications_rule_converted', ['rule', 'converted_at'], unique=False,
            sqlite_where=sa.text('converted_at IS NOT NULL'),
            postgresql_where=sa.text('converted_at IS NOT NULL'))
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute("DROP TRIGGER report_log_insert_delete ON notifications")
    op.execute(_log_rows("report_log_inserted", "inserted"))
    op.execute(_log_rows("report_log_deleted", "deleted"))
    op.execute("CREATE TRIGGER report_log_insert AFTER INSERT ON notifications "
               "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
               "EXECUTE FUNCTION report_log_inserted()")
    op.execute("CREATE TRIGGER report_log_delete AFTER DELETE ON notifications "
               "REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT "
               "EXECUTE FUNCTION report_log_deleted()")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER report_log_insert ON notifications")
        op.execute("DROP TRIGGER report_log_delete ON notifications")
        op.execute("DROP FUNCTION report_log_inserted()")
        op.execute("DROP FUNCTION report_log_deleted()")
        op.execute("CREATE TRIGGER report_log_insert_delete AFTER INSERT OR DELETE ON "
                   "notifications FOR EACH ROW EXECUTE FUNCTION report_log_change()")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_rule_converted')
        batch_op.drop_index('ix_notifications_provider_id')
        batch_op.create_index('ix_notifications_rule_converted', ['rule', 'converted_at'],
                              unique=False)
        batch_op.create_index('ix_notifications_provider_id', ['provider_id'], unique=False)
        batch_op.create_index('ix_notifications_rule', ['rule'], unique=False)
