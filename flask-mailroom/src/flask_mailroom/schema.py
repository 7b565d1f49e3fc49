"""The mail tables' own migration history, and keeping the host's migrations away from them.

``flask mail upgrade`` runs the Alembic history in ``mailroom/mail/migrations`` against the mail
database, recording its revision in a version table of its own (``mailroom_mail_version``), so it
never meets the host's ``alembic_version``. A host using Flask-Migrate gets an ``include_name``
filter added to its Alembic configuration, so ``flask db migrate`` and ``flask db check`` neither
drop nor report the mail tables.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from flask import Flask
from sqlalchemy import Connection, Engine

from flask_mailroom.models import metadata

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "mailroom_mail_version"
HOOKED = "mailroom_mail_hidden"
IncludeName = Callable[[str | None, str, dict[str, Any]], bool]


def ours(table: str | None) -> bool:
    """Whether a table belongs to the mail core (one of its tables, or its version table)."""
    return table == VERSION_TABLE or table in metadata.tables


def compared(name: str | None, type_: str, parents: dict[str, Any]) -> bool:
    """What the mail history compares with its models: the mail tables, without the version table."""
    return type_ != "table" or name in metadata.tables


def _config(connection: Connection) -> Config:
    """An Alembic configuration running the mail history on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def revision(connection: Connection) -> str | None:
    """The mail tables' revision in this database (None before the first upgrade)."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the mail tables to the newest revision, in one transaction; (before, after)."""
    with engine.begin() as connection:
        before = revision(connection)
        command.upgrade(_config(connection), "head")
        return before, revision(connection)


def downgrade(engine: Engine, target: str = "base") -> tuple[str | None, str | None]:
    """Take the mail tables back to ``target`` (``base``: none left), in one transaction; (before, after)."""
    with engine.begin() as connection:
        before = revision(connection)
        command.downgrade(_config(connection), target)
        return before, revision(connection)


def differences(engine: Engine) -> list[Any]:
    """What differs between the mail models and the database (empty when they agree)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "include_name": compared,
            "compare_type": True,
        })
        return list(compare_metadata(context, metadata))


def _without_ours(previous: IncludeName | None) -> IncludeName:
    """The host's ``include_name`` filter, with the mail tables left out."""

    def include_name(name: str | None, type_: str, parents: dict[str, Any]) -> bool:
        """Skip our tables; ask the host's own filter about everything else."""
        if type_ == "table" and ours(name):
            return False
        return previous is None or previous(name, type_, parents)

    return include_name


def hide_from_host_migrations(app: Flask) -> None:
    """Give the host's Flask-Migrate configuration the filter, once (when Flask-Migrate is there)."""
    migrate = app.extensions.get("migrate")
    if migrate is None or getattr(migrate, HOOKED, False):
        return
    arguments = migrate.configure_args
    arguments["include_name"] = _without_ours(arguments.get("include_name"))
    setattr(migrate, HOOKED, True)
