"""Alembic environment of the mail tables: their own history and version table, in the host's database."""

from alembic import context

from flask_mailroom.models import metadata
from flask_mailroom.schema import VERSION_TABLE, compared

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    include_name=compared,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
