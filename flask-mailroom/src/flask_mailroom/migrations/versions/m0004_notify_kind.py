"""New-mail notifications name the kinds of mail inserted (``transactional``, ``bulk``), so a worker
wakes an idle connection that can take them: the reserved lane's for an account email, a bulk
connection for a fan-out (before, every notification woke one of each, and every account email
cost each worker an empty claim).

PostgreSQL only (SQLite has no notifications). The trigger now reads the inserted rows from a
transition table; the payload is their distinct kinds, space-separated. Workers treat an empty
payload (a database still at m0003) as "any kind".

Revision ID: m0004_notify_kind
Revises: m0003_queue_at_scale
Create Date: 2026-12-07 20:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'm0004_notify_kind'
down_revision = 'm0003_queue_at_scale'
branch_labels = None
depends_on = None

KIND_FUNCTION = """
CREATE OR REPLACE FUNCTION mailroom_outbox_notify() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('mailroom_outbox',
                    (SELECT coalesce(string_agg(DISTINCT kind, ' ' ORDER BY kind), '') FROM notify_new));
  RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""
KIND_TRIGGER = """
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox REFERENCING NEW TABLE AS notify_new
FOR EACH STATEMENT EXECUTE FUNCTION mailroom_outbox_notify()
"""
# m0002's notification, without a payload.
PLAIN_FUNCTION = """
CREATE OR REPLACE FUNCTION mailroom_outbox_notify() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('mailroom_outbox', '');
  RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""
PLAIN_TRIGGER = """
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
FOR EACH STATEMENT EXECUTE FUNCTION mailroom_outbox_notify()
"""


def _postgresql():
    return op.get_bind().dialect.name == 'postgresql'


def _replace(function, trigger):
    """The notification function, and its trigger where the outbox still exists (a host's own
    history may have dropped it before the mail history goes down)."""
    has_outbox = 'outbox' in sa.inspect(op.get_bind()).get_table_names()
    if has_outbox:
        op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute(function)
    if has_outbox:
        op.execute(trigger)


def upgrade():
    if _postgresql():
        _replace(KIND_FUNCTION, KIND_TRIGGER)


def downgrade():
    if _postgresql():
        _replace(PLAIN_FUNCTION, PLAIN_TRIGGER)
