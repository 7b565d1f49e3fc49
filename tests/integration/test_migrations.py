"""Migrations: `flask db upgrade` from empty, and the schema matches the models (`flask db check`)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskCliRunner
from flask_mailroom.schema import VERSION_TABLE, differences, downgrade
from sqlalchemy import inspect

from mailroom import create_app
from mailroom.extensions import db
from tests.conftest import base_config


def test_upgrade_from_empty_then_check_finds_nothing_to_do(database_url: str) -> None:
    # database_url is already migrated; go down to empty and back up through the CLI.
    app = create_app(base_config(database_url))
    runner = app.test_cli_runner()
    down = runner.invoke(args=["db", "downgrade", "base"])
    assert down.exit_code == 0, down.output
    with app.app_context():
        downgrade(db.engine)  # what the mail history added to the tables Mailroom's history made
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version", VERSION_TABLE}
    for command in (["db", "upgrade"], ["mail", "upgrade"], ["db", "check"]):
        result = runner.invoke(args=command)
        assert result.exit_code == 0, result.output
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
        assert differences(db.engine) == []
        db.engine.dispose()
    assert {"users", "outbox", "verification_codes", "dev_mail", "announcements"} <= tables


def test_app_factory_takes_the_test_config(app: Flask, runner: FlaskCliRunner) -> None:
    assert app.testing
    assert app.config["SERVER_NAME"] == "mailroom.test"
    assert app.config["MAIL_SUPPRESS_SEND"] is True
    assert "mailroom" in app.extensions
    result = runner.invoke(args=["mail", "--help"])
    assert result.exit_code == 0
