"""The mail tables: the outbox and the development mailbox, as the models define them.

Each table is created only when it is missing, so a database where an application's own
migrations already created them (Mailroom before the mail core had a history of its own) keeps
them. The tables are built from the models as they are when this runs: while the mail core has
no release, its schema changes land in the models and every new database gets them. From the first
release on, each change to a mail table is a revision of its own after this one (m0002, ...).

Revision ID: m0001_mail_tables
Revises:
Create Date: 2026-12-01 23:10:00
"""
from alembic import op

from flask_mailroom.models import metadata

revision = 'm0001_mail_tables'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade():
    metadata.drop_all(op.get_bind(), checkfirst=True)
