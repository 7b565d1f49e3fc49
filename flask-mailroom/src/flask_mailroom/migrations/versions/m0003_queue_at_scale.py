"""The queue at scale: partial indexes for the claim and the pages, the outbox's storage
parameters on PostgreSQL, and ``outbox_tally``, the per-status figures kept by triggers.

- ``ix_outbox_due`` (status, priority, next_attempt_at: every row, rewritten at every status
  change) now holds only the queued rows, in claim order; new partial indexes hold the rows being
  sent and the rows waiting (for the oldest one); ``sent_at`` and ``failed_at`` are indexed only
  where set. Updates add entries only to the indexes whose rows they are.
- PostgreSQL: fillfactor 85 and autovacuum after 2 % of the table changed, with a higher cost
  limit (SQLite has no such settings: skipped).
- ``outbox_tally``: triggers append the change in rows per (kind, status, announcement, builder)
  in the transaction that makes it (PostgreSQL: once per statement, from its transition tables;
  SQLite: once per row), and ``flask mail status`` and the dashboard sum them instead of counting
  the outbox. The existing rows are counted once here, under the triggers' lock.

The outbox's new indexes and the tally table may already exist (m0001 builds the tables as the
models define them): each is created only when missing.

Revision ID: m0003_queue_at_scale
Revises: m0002_delivery_engine
Create Date: 2026-12-07 16:30:00
"""
# ruff: noqa: S608  (every statement here is built from this file's constants)
import sqlalchemy as sa
from alembic import op

revision = 'm0003_queue_at_scale'
down_revision = 'm0002_delivery_engine'
branch_labels = None
depends_on = None

STORAGE = {"fillfactor": "85", "autovacuum_vacuum_scale_factor": "0.02",
           "autovacuum_vacuum_insert_scale_factor": "0.05", "autovacuum_analyze_scale_factor": "0.02",
           "autovacuum_vacuum_cost_limit": "2000", "autovacuum_vacuum_cost_delay": "1"}
PARTIAL = {
    'ix_outbox_due': (['priority', 'next_attempt_at', 'id'], "status = 'queued'"),
    'ix_outbox_sending': (['claimed_by'], "status = 'sending'"),
    'ix_outbox_waiting': (['created_at'], "status IN ('queued', 'sending')"),
    'ix_outbox_sent_at': (['sent_at'], "sent_at IS NOT NULL"),
    'ix_outbox_failed_at': (['failed_at'], "failed_at IS NOT NULL"),
}
# Replaced by partial indexes of the same name (the host's history may drop them by name):
# dropped first whatever their shape.
REBUILT = ('ix_outbox_due', 'ix_outbox_sent_at', 'ix_outbox_failed_at')
COLUMNS = "kind, status, announcement_id, builder"
PG_BUILDER = "CASE WHEN length(raw) = 0 THEN meta->>'deferred' END"
SQLITE_BUILDER = "CASE WHEN length({row}.raw) = 0 THEN json_extract({row}.meta, '$.deferred') END"

PG_FUNCTIONS = {
    'mailroom_outbox_tally_insert': f"""
        INSERT INTO outbox_tally ({COLUMNS}, delta)
        SELECT kind, status, announcement_id, {PG_BUILDER}, count(*)
        FROM tally_new GROUP BY 1, 2, 3, 4""",
    'mailroom_outbox_tally_delete': f"""
        INSERT INTO outbox_tally ({COLUMNS}, delta)
        SELECT kind, status, announcement_id, {PG_BUILDER}, -count(*)
        FROM tally_old GROUP BY 1, 2, 3, 4""",
    'mailroom_outbox_tally_update': f"""
        INSERT INTO outbox_tally ({COLUMNS}, delta)
        SELECT kind, status, announcement_id, builder, sum(delta) FROM (
            SELECT kind, status, announcement_id, {PG_BUILDER} AS builder, 1 AS delta FROM tally_new
            UNION ALL
            SELECT kind, status, announcement_id, {PG_BUILDER}, -1 FROM tally_old) AS changed
        GROUP BY 1, 2, 3, 4 HAVING sum(delta) <> 0""",
    'mailroom_outbox_tally_truncate': "DELETE FROM outbox_tally",
}
# Trigger -> (event, transition tables, function).
PG_TRIGGERS = {
    'outbox_tally_insert': ("AFTER INSERT", "REFERENCING NEW TABLE AS tally_new",
                            "mailroom_outbox_tally_insert"),
    'outbox_tally_delete': ("AFTER DELETE", "REFERENCING OLD TABLE AS tally_old",
                            "mailroom_outbox_tally_delete"),
    'outbox_tally_update': ("AFTER UPDATE", "REFERENCING OLD TABLE AS tally_old NEW TABLE AS tally_new",
                            "mailroom_outbox_tally_update"),
    'outbox_tally_truncate': ("AFTER TRUNCATE", "", "mailroom_outbox_tally_truncate"),
}


def _sqlite_values(row, sign):
    return (f"({row}.kind, {row}.status, {row}.announcement_id, "
            f"{SQLITE_BUILDER.format(row=row)}, {sign})")


SQLITE_TRIGGERS = {
    'outbox_tally_insert': f"""
        CREATE TRIGGER outbox_tally_insert AFTER INSERT ON outbox BEGIN
        INSERT INTO outbox_tally ({COLUMNS}, delta) VALUES {_sqlite_values('NEW', 1)}; END""",
    'outbox_tally_delete': f"""
        CREATE TRIGGER outbox_tally_delete AFTER DELETE ON outbox BEGIN
        INSERT INTO outbox_tally ({COLUMNS}, delta) VALUES {_sqlite_values('OLD', -1)}; END""",
    'outbox_tally_update': f"""
        CREATE TRIGGER outbox_tally_update AFTER UPDATE ON outbox
        WHEN OLD.kind IS NOT NEW.kind OR OLD.status IS NOT NEW.status
          OR OLD.announcement_id IS NOT NEW.announcement_id
          OR {SQLITE_BUILDER.format(row='OLD')} IS NOT {SQLITE_BUILDER.format(row='NEW')}
        BEGIN
        INSERT INTO outbox_tally ({COLUMNS}, delta)
        VALUES {_sqlite_values('OLD', -1)}, {_sqlite_values('NEW', 1)}; END""",
}


def _postgresql():
    return op.get_bind().dialect.name == 'postgresql'


def _create_tally_table():
    if 'outbox_tally' in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        'outbox_tally',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('announcement_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('builder', sa.String(length=64), nullable=True),
        sa.Column('delta', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_outbox_tally'),
    )


def _indexes():
    existing = {index['name'] for index in sa.inspect(op.get_bind()).get_indexes('outbox')}
    for name in REBUILT:
        if name in existing:
            op.drop_index(name, table_name='outbox')
            existing.discard(name)
    for name, (columns, condition) in PARTIAL.items():
        if name not in existing:
            op.create_index(name, 'outbox', columns, postgresql_where=sa.text(condition),
                            sqlite_where=sa.text(condition))


def _triggers():
    if _postgresql():
        for name, body in PG_FUNCTIONS.items():
            op.execute(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$\n"
                       f"BEGIN\n{body};\nRETURN NULL;\nEND;\n$$ LANGUAGE plpgsql")
        for name, (when, referencing, function) in PG_TRIGGERS.items():
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON outbox")
            op.execute(f"CREATE TRIGGER {name} {when} ON outbox {referencing} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
        return
    for name, statement in SQLITE_TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(statement)


def _count_existing():
    builder = PG_BUILDER if _postgresql() else SQLITE_BUILDER.format(row='outbox')
    op.execute("DELETE FROM outbox_tally")
    op.execute(f"INSERT INTO outbox_tally ({COLUMNS}, delta) "
               f"SELECT kind, status, announcement_id, {builder}, count(*) FROM outbox GROUP BY 1, 2, 3, 4")


def upgrade():
    _indexes()
    _create_tally_table()
    if _postgresql():
        options = ", ".join(f"{name} = {value}" for name, value in STORAGE.items())
        op.execute(f"ALTER TABLE outbox SET ({options})")
    # The triggers lock the outbox against writers until this commits: nothing is missed or
    # counted twice between them and the count.
    _triggers()
    _count_existing()


def downgrade():
    tables = sa.inspect(op.get_bind()).get_table_names()
    if 'outbox' in tables:
        _drop_triggers()
        for name in PARTIAL:
            op.drop_index(name, table_name='outbox')
        op.create_index('ix_outbox_due', 'outbox', ['status', 'priority', 'next_attempt_at'])
        op.create_index('ix_outbox_sent_at', 'outbox', ['sent_at'])
        op.create_index('ix_outbox_failed_at', 'outbox', ['failed_at'])
    if _postgresql():
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    if 'outbox_tally' in tables:
        op.drop_table('outbox_tally')


def _drop_triggers():
    if not _postgresql():
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        return
    for name in PG_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON outbox")
    op.execute(f"ALTER TABLE outbox RESET ({', '.join(STORAGE)})")
