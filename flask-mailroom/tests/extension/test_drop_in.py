"""Mailroom's mail in a host that is not Mailroom: Flask-Mail's API, durable, with its own tables."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import flask_mail
import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from flask_mailroom import HeaderInjection, Message
from flask_mailroom.compose.parse import message_from_raw
from flask_mailroom.engine.worker import Worker
from flask_mailroom.models import metadata as mail_metadata
from flask_mailroom.queue import OutboxMessage

from support.apps import Note, host_app, host_config
from support.smtp import SMTPServer

Summary = tuple[Any, ...]


@pytest.fixture
def host(database_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[Flask, SQLAlchemy, Any]]:
    """A host app on Mailroom's mail, its tables created by ``flask mail upgrade``; wired to the
    SMTP server when the test has one."""
    extra = request.getfixturevalue("smtp").config() if "smtp" in request.fixturenames else {}
    app, db, mail = host_app(host_config(database_url, **extra))
    with app.app_context():
        db.create_all()
    assert app.test_cli_runner().invoke(args=["mail", "upgrade"]).exit_code == 0
    yield app, db, mail
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def summary(message: flask_mail.Message) -> Summary:
    """What a test of a Flask-Mail app looks at in a recorded message."""
    return (message.subject, list(message.recipients), message.sender, message.cc, message.reply_to,
            message.body, message.html,
            [(a.filename, a.content_type, bytes(a.data)) for a in message.attachments])  # type: ignore[arg-type]


def send_the_usual(mail: Any, message_class: type[flask_mail.Message]) -> None:
    """What a Flask-Mail app does: one message with everything, the shortcut, and a bulk connection."""
    message = message_class("Résumé ✓", recipients=["ann@example.com", ("Bob B.", "bob@example.com")],
                            body="Hello Ann\n", html="<p>Hello <b>Ann</b></p>",
                            cc=["carl@example.com"], reply_to="help@example.com")
    message.attach("notes.txt", "text/plain", b"naive notes\n")
    message.attach("data.bin", "application/octet-stream", bytes(range(256)))
    mail.send(message)
    mail.send_message("Second", recipients=["dan@example.com"], body="Two")
    with mail.connect() as conn:
        for number in range(3):
            conn.send(message_class(f"Bulk {number}", recipients=[f"u{number}@example.com"],
                                    body=f"Hi {number}"))


def recorded(app: Flask, mail: Any, message_class: type[flask_mail.Message]) -> list[Summary]:
    """The same test body, whatever the extension: send the usual, return what was recorded."""
    with app.app_context(), mail.record_messages() as outbox:
        send_the_usual(mail, message_class)
    return [summary(message) for message in outbox]


@pytest.mark.parametrize("message_class", [flask_mail.Message, Message])
def test_a_flask_mail_test_body_records_the_same_messages_on_both_extensions(
        host: tuple[Flask, SQLAlchemy, Any], message_class: type[flask_mail.Message]) -> None:
    app, db, mail = host
    original_app, _, original = host_app(host_config("sqlite://", MAIL_SUPPRESS_SEND=True), mail="flask_mail")
    expected = recorded(original_app, original, flask_mail.Message)
    assert len(expected) == 5
    assert recorded(app, mail, message_class) == expected
    with app.app_context():
        stored = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        back = [message_from_raw(row.raw, row.recipients) for row in stored]
    assert [m.subject for m in back] == [s[0] for s in expected]
    assert back[0].attachments[1].data == bytes(range(256))
    assert back[0].recipients == ["ann@example.com", ("Bob B.", "bob@example.com")]


def test_send_is_durable_even_when_the_host_never_commits(
        host: tuple[Flask, SQLAlchemy, Any], smtp: SMTPServer) -> None:
    app, db, mail = host
    with app.app_context():
        db.session.add(Note(text="never committed"))
        mail.send(Message("Kept", recipients=["ann@example.com"], body="stored on its own"))
        db.session.rollback()
    assert Worker(app).drain() == 1
    [received] = smtp.wait_for(1)
    assert received.message["Subject"] == "Kept"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Note)) == 0


def test_a_send_joined_to_a_rolled_back_transaction_sends_nothing(
        host: tuple[Flask, SQLAlchemy, Any], smtp: SMTPServer) -> None:
    app, db, mail = host
    with app.app_context():
        db.session.add(Note(text="rolled back"))
        mail.send(Message("Gone", recipients=["ann@example.com"], body="x"), session=db.session)
        db.session.rollback()
        db.session.add(Note(text="committed"))
        mail.send(Message("Kept", recipients=["bob@example.com"], body="y"), session=db.session)
        db.session.commit()
    assert Worker(app).drain() == 1
    assert [m.message["Subject"] for m in smtp.wait_for(1)] == ["Kept"]
    assert smtp.wait_until(lambda server: len(server.received) == 1)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_a_bulk_connection_of_500_goes_out_over_ten_smtp_connections_with_max_emails_50(
        host: tuple[Flask, SQLAlchemy, Any], smtp: SMTPServer) -> None:
    app, _, mail = host
    app.config.update(MAIL_MAX_EMAILS=50, MAIL_CONNECTIONS=1)  # one connection at a time
    with app.app_context(), mail.connect() as conn:
        for number in range(500):
            conn.send(Message(f"Newsletter {number}", recipients=[f"reader{number}@example.com"],
                              body="news"))
    result = app.test_cli_runner().invoke(args=["mail", "worker", "--burst"])
    assert "handled 500 message(s): 500 sent" in result.output, result.output
    assert len(smtp.wait_for(500)) == 500
    assert smtp.connections == 10


@pytest.mark.parametrize("message_class", [flask_mail.Message, Message])
def test_header_injection_is_refused_with_the_clear_error_and_nothing_is_stored(
        host: tuple[Flask, SQLAlchemy, Any], message_class: type[flask_mail.Message]) -> None:
    app, db, mail = host
    with app.app_context(), mail.record_messages() as outbox:
        with pytest.raises(HeaderInjection, match="Subject contains a line break"):
            mail.send(message_class("Hi\r\nBcc: victim@example.com", recipients=["ann@example.com"]))
        with pytest.raises(HeaderInjection):
            mail.send(message_class("Hi", recipients=["ann@example.com"],
                                    extra_headers={"X-Tag": "a\nBcc: victim@example.com"}))
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert outbox == []


def test_upgrade_twice_is_a_no_op_and_keeps_its_own_version_table(
        host: tuple[Flask, SQLAlchemy, Any]) -> None:
    app, db, _ = host
    again = app.test_cli_runner().invoke(args=["mail", "upgrade"])
    assert again.exit_code == 0
    assert "mail tables already at m0004_notify_kind" in again.output
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    assert tables == {"host_notes", "mailroom_mail_version", *mail_metadata.tables}


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_the_mail_tables_can_live_in_a_database_of_their_own(empty_database_url: str, tmp_path: Any) -> None:
    separate = f"sqlite:///{tmp_path / 'mail.sqlite3'}"
    app, db, mail = host_app(host_config(empty_database_url, MAILROOM_DATABASE_URL=separate))
    runner = app.test_cli_runner()
    assert "in sqlite:///" + str(tmp_path / "mail.sqlite3") in runner.invoke(args=["mail", "upgrade"]).output
    with app.app_context():
        db.create_all()
        mail.send(Message("Elsewhere", recipients=["ann@example.com"], body="x"))
        with pytest.raises(RuntimeError, match="MAILROOM_DATABASE_URL"):
            mail.send(Message("Joined", recipients=["ann@example.com"], body="x"), session=db.session)
        assert set(inspect(db.engine).get_table_names()) == {"host_notes"}
        with Session(mail.engine) as session:
            assert session.scalar(select(OutboxMessage.subject)) == "Elsewhere"
        mail.engine.dispose()
        db.engine.dispose()


def test_deferred_messages_are_built_by_registered_builders_and_unknown_ones_wait_unspent(
        host: tuple[Flask, SQLAlchemy, Any], smtp: SMTPServer) -> None:
    app, db, mail = host
    mail.register_builder("welcome", lambda to, params: Message(
        "Welcome", recipients=[to], body=f"Hi {params['name']}"))
    with app.app_context():
        mail.defer("welcome", "ann@example.com", {"name": "Ann"})
        waiting = mail.defer("farewell", "bob@example.com")
    runner = app.test_cli_runner()
    status = runner.invoke(args=["mail", "status"])
    assert "1 deferred message(s) need builder 'farewell'" in status.output
    assert "'welcome'" not in status.output
    burst = runner.invoke(args=["mail", "worker", "--burst"])
    assert "need builder 'farewell'" in burst.output
    [received] = smtp.wait_for(1)
    assert (received.message["Subject"], received.text().strip()) == ("Welcome", "Hi Ann")
    with app.app_context():
        row = db.session.get(OutboxMessage, waiting.id)
        assert (row.status, row.attempts) == ("queued", 0)
        assert "no builder named 'farewell'" in (row.last_error or "")

    @mail.builder("farewell")
    def farewell(to: str, params: Any) -> Message:
        return Message("Goodbye", recipients=[to], body="Bye")

    assert runner.invoke(args=["mail", "retry", str(waiting.id)]).exit_code == 0
    assert "need builder" not in runner.invoke(args=["mail", "worker", "--burst"]).output
    assert [m.message["Subject"] for m in smtp.wait_for(2)] == ["Welcome", "Goodbye"]
