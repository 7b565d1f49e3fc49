"""A host without Flask-SQLAlchemy: ``Mail()`` with MAILROOM_DATABASE_URL keeps its tables, its
sessions and its worker to itself, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from flask_mailroom import Mail, Message
from flask_mailroom.clock import FrozenClock
from flask_mailroom.engine import Worker
from flask_mailroom.models import metadata as mail_metadata
from flask_mailroom.queue import OutboxMessage
from flask_mailroom.store import state

from support.apps import base_config, minimal_app
from support.outbox import flask_command, outbox_rows, process_env, queue_many, start_process, wait_for
from support.smtp import SMTPServer


def mail_of(app: Flask) -> Mail:
    """The app's Mail extension."""
    found: Mail = state(app).mail
    return found


def test_upgrade_makes_only_the_mail_tables_in_their_database(bare_app: Flask) -> None:
    assert "sqlalchemy" not in bare_app.extensions
    with bare_app.app_context():
        tables = set(inspect(mail_of(bare_app).engine).get_table_names())
    assert tables == {"mailroom_mail_version", *mail_metadata.tables}
    again = bare_app.test_cli_runner().invoke(args=["mail", "upgrade"])
    assert "mail tables already at" in again.output, again.output


def test_send_stores_and_the_worker_delivers(bare_app: Flask, smtp: SMTPServer) -> None:
    with bare_app.app_context(), mail_of(bare_app).record_messages() as recorded:
        mail_of(bare_app).send(Message("Hello", recipients=["ann@example.com"], body="From a bare app"))
        with mail_of(bare_app).connect() as conn:
            for number in range(3):
                conn.send(Message(f"Bulk {number}", recipients=[f"u{number}@example.com"], body="x"))
    assert [m.subject for m in recorded] == ["Hello", "Bulk 0", "Bulk 1", "Bulk 2"]
    assert Worker(bare_app).drain() == 4
    received = smtp.wait_for(4)
    assert sorted(str(m.message["Subject"]) for m in received) == ["Bulk 0", "Bulk 1", "Bulk 2", "Hello"]
    assert {r.status for r in outbox_rows(bare_app)} == {"sent"}


def test_a_session_on_the_mail_database_joins_the_callers_transaction(
        bare_app: Flask, smtp: SMTPServer) -> None:
    mail = mail_of(bare_app)
    with bare_app.app_context(), Session(mail.engine) as session:
        mail.send(Message("Gone", recipients=["ann@example.com"], body="x"), session=session)
        session.rollback()
        mail.send(Message("Kept", recipients=["bob@example.com"], body="y"), session=session)
        session.commit()
    assert Worker(bare_app).drain() == 1
    assert [str(m.message["Subject"]) for m in smtp.wait_for(1)] == ["Kept"]


def test_the_cli_runs_the_queue(bare_app: Flask, smtp: SMTPServer, clock: FrozenClock) -> None:
    runner = bare_app.test_cli_runner()
    queue_many(bare_app, 3)
    smtp.fail_data("554 5.7.1 Rejected")
    burst = runner.invoke(args=["mail", "worker", "--burst"])
    assert "handled 3 message(s): 2 sent, 0 to retry, 1 failed" in burst.output, burst.output
    status = runner.invoke(args=["mail", "status"]).output
    assert {("sent", "2"), ("failed", "1")} <= {tuple(line.replace("│", " ").split())
                                               for line in status.splitlines()}
    assert "1 failed message(s) queued again" in runner.invoke(args=["mail", "retry", "--all-failed"]).output
    assert Worker(bare_app).drain() == 1
    assert {r.status for r in outbox_rows(bare_app)} == {"sent"}


def test_deferred_messages_are_built_by_the_worker(bare_app: Flask, smtp: SMTPServer) -> None:
    mail = mail_of(bare_app)
    mail.register_builder("welcome", lambda to, params: Message(
        "Welcome", recipients=[to], body=f"Hi {params['name']}"))
    with bare_app.app_context():
        mail.defer("welcome", "ann@example.com", {"name": "Ann"})
    assert Worker(bare_app).drain() == 1
    [received] = smtp.wait_for(1)
    assert received.text().strip() == "Hi Ann"


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_the_dev_mailbox_works_without_flask_sqlalchemy(database_url: str) -> None:
    app, _, mail = minimal_app(base_config(MAILROOM_DATABASE_URL=database_url, DEBUG=True, TESTING=False,
                                           MAIL_TRANSPORT="devmail"), sqlalchemy=False)
    try:
        with app.app_context():
            mail.upgrade()
            mail.send(Message("Caught", recipients=["ann@example.com"], body="Read me in the mailbox"))
        assert Worker(app).drain() == 1
        client = app.test_client()
        assert "Caught" in client.get("/dev/mail").get_data(as_text=True)
        assert "Read me in the mailbox" in client.get("/dev/mail/1").get_data(as_text=True)
    finally:
        state(app).dispose()


def test_a_worker_process_of_a_bare_app_delivers_and_stops_on_sigterm(
        bare_app: Flask, smtp: SMTPServer, clock: FrozenClock, tmp_path: Path,
        processes: list[subprocess.Popen[bytes]]) -> None:
    clock.set(datetime.now(UTC))  # the process runs on the real clock
    expected = queue_many(bare_app, 5)
    log = tmp_path / "worker.log"
    worker = start_process(flask_command("mail", "worker"), process_env(bare_app), log)
    processes.append(worker)
    received = smtp.wait_for(5, timeout=60)
    assert sorted(str(m.message["Message-ID"]) for m in received) == sorted(expected), log.read_text()
    assert wait_for(lambda: "started" in log.read_text())
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, log.read_text()
    with bare_app.app_context(), Session(mail_of(bare_app).engine) as session:
        assert set(session.scalars(select(OutboxMessage.status))) == {"sent"}
