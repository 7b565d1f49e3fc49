"""A host that uses Flask-Migrate: its history never sees the mail tables, ours never sees its tables."""

from __future__ import annotations

from pathlib import Path

from click.testing import Result
from flask_migrate import Migrate
from sqlalchemy import inspect, text

from flask_mailroom.models import metadata as mail_metadata
from flask_mailroom.schema import HOOKED

from support.apps import host_app, host_config

DEPRECATED = "return current_app.extensions['migrate'].db.get_engine()"


def flask(database_url: str, folder: Path, *args: str, keep_filter: bool = True) -> Result:
    """``flask <args>`` in the host, each in a fresh app as each command runs in a fresh process;
    Migrate is set up after Mail, as hosts may do."""
    app, db, _ = host_app(host_config(database_url))
    Migrate(app, db, directory=str(folder / "migrations"))
    if not keep_filter:  # as if it had been added already: it never will be
        setattr(app.extensions["migrate"], HOOKED, True)
    result = app.test_cli_runner().invoke(args=list(args))
    with app.app_context():
        db.engine.dispose()
    return result


def init_host(database_url: str, folder: Path) -> None:
    """``flask db init``, the one-line fix of the generated env.py, the host's first migration."""
    assert flask(database_url, folder, "db", "init").exit_code == 0
    env = folder / "migrations" / "env.py"
    # Flask-Migrate's env.py calls a deprecated Flask-SQLAlchemy API first: the fix every host makes.
    fixed = env.read_text().replace(DEPRECATED, "return current_app.extensions['migrate'].db.engine")
    # Run in this test process, the generated fileConfig() call would disable every logger made
    # before it (the other tests' apps' loggers included); a process of its own would not care.
    env.write_text(fixed.replace("fileConfig(config.config_file_name)",
                                 "fileConfig(config.config_file_name, disable_existing_loggers=False)"))
    for command in (("db", "migrate", "-m", "host tables"), ("db", "upgrade")):
        result = flask(database_url, folder, *command)
        assert result.exit_code == 0, result.output


def test_flask_db_check_still_passes_after_mail_upgrade(empty_database_url: str, tmp_path: Path) -> None:
    init_host(empty_database_url, tmp_path)
    first = flask(empty_database_url, tmp_path, "mail", "upgrade")
    assert "mail tables upgraded from nothing to m0004_notify_kind" in first.output
    second = flask(empty_database_url, tmp_path, "mail", "upgrade")
    assert "mail tables already at m0004_notify_kind" in second.output
    check = flask(empty_database_url, tmp_path, "db", "check")
    assert check.exit_code == 0, check.output
    again = flask(empty_database_url, tmp_path, "db", "migrate", "-m", "nothing to do")
    assert "No changes in schema detected" in again.output
    assert len(list((tmp_path / "migrations" / "versions").glob("*.py"))) == 1
    app, db, _ = host_app(host_config(empty_database_url))
    with app.app_context(), db.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        host_version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        mail_version = connection.execute(text("SELECT version_num FROM mailroom_mail_version")).scalar()
        notifying = connection.dialect.name != "postgresql" or connection.execute(text(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'outbox_notify'")).scalar() == 1
    with app.app_context():
        db.engine.dispose()
    assert tables == {"host_notes", "alembic_version", "mailroom_mail_version", *mail_metadata.tables}
    assert mail_version == "m0004_notify_kind"
    assert "mail_workers" in tables
    assert notifying, "on PostgreSQL the upgrade installs the trigger that wakes idle workers"
    assert host_version not in (None, mail_version)


def test_without_the_filter_the_hosts_check_would_want_to_drop_the_mail_tables(
        empty_database_url: str, tmp_path: Path) -> None:
    init_host(empty_database_url, tmp_path)
    assert flask(empty_database_url, tmp_path, "mail", "upgrade").exit_code == 0
    check = flask(empty_database_url, tmp_path, "db", "check", keep_filter=False)
    assert check.exit_code != 0
    assert "remove_table" in check.output
    assert "outbox" in check.output
