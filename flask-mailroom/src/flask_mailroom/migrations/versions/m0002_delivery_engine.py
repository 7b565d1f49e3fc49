"""The delivery engine: the workers' reports (``mail_workers``), each message's count of throttling
replies (``outbox.throttles``), and on PostgreSQL a notification when outbox rows are committed, so
idle workers wake at once.

The table and the column are added only when missing (m0001 builds the tables as the models define
them, these included, on a database that had none). The trigger notifies the ``mailroom_outbox`` channel once
per inserting statement, delivered when its transaction commits; SQLite has none and workers poll.

Revision ID: m0002_delivery_engine
Revises: m0001_mail_tables
Create Date: 2026-12-02 02:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'm0002_delivery_engine'
down_revision = 'm0001_mail_tables'
branch_labels = None
depends_on = None

NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION mailroom_outbox_notify() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('mailroom_outbox', '');
  RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""
NOTIFY_TRIGGER = """
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
FOR EACH STATEMENT EXECUTE FUNCTION mailroom_outbox_notify()
"""


def _postgresql():
    return op.get_bind().dialect.name == 'postgresql'


def upgrade():
    inspector = sa.inspect(op.get_bind())
    if 'throttles' not in {column['name'] for column in inspector.get_columns('outbox')}:
        with op.batch_alter_table('outbox', schema=None) as batch_op:
            batch_op.add_column(sa.Column('throttles', sa.Integer(), server_default=sa.text('0'),
                                          nullable=False))
    if 'mail_workers' not in inspector.get_table_names():
        op.create_table(
            'mail_workers',
            sa.Column('worker_id', sa.String(length=128), nullable=False),
            sa.Column('started_at', sa.DateTime(), nullable=False),
            sa.Column('seen_at', sa.DateTime(), nullable=False),
            sa.Column('connections', sa.Integer(), nullable=False),
            sa.Column('reserved', sa.Integer(), nullable=False),
            sa.Column('in_flight', sa.Integer(), nullable=False),
            sa.Column('sent', sa.Integer(), nullable=False),
            sa.Column('failed', sa.Integer(), nullable=False),
            sa.Column('throttled', sa.Integer(), nullable=False),
            sa.Column('unreachable', sa.Integer(), nullable=False),
            sa.Column('rate', sa.Float(), nullable=False),
            sa.Column('breaker', sa.String(length=16), nullable=False),
            sa.PrimaryKeyConstraint('worker_id', name='pk_mail_workers'),
        )
        op.create_index('ix_mail_workers_seen_at', 'mail_workers', ['seen_at'], unique=False)
    if _postgresql():
        op.execute(NOTIFY_FUNCTION)
        op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
        op.execute(NOTIFY_TRIGGER)


def downgrade():
    tables = sa.inspect(op.get_bind()).get_table_names()
    if 'outbox' in tables:
        if _postgresql():
            op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
        with op.batch_alter_table('outbox', schema=None) as batch_op:
            batch_op.drop_column('throttles')
    if _postgresql():
        op.execute("DROP FUNCTION IF EXISTS mailroom_outbox_notify()")
    if 'mail_workers' in tables:
        op.drop_index('ix_mail_workers_seen_at', table_name='mail_workers')
        op.drop_table('mail_workers')
