"""Mail carrying a link or code (``mail.send(..., expires_at=...)``) never goes out dead, and its body
does not linger: dropped once it is sent, expired or failed, and such a message is never queued again."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from flask_mailroom import Mail, Message
from flask_mailroom.clock import FrozenClock
from flask_mailroom.queue import OutboxMessage

from support.outbox import outbox_rows
from support.services import free_port
from support.smtp import SMTPServer

TTL = 600


def send_code(app: Flask, mail: Mail, clock: FrozenClock, *, ttl: float = TTL) -> OutboxMessage:
    """Store one message whose code stops working ``ttl`` seconds from now."""
    with app.app_context():
        message = Message("Your code", recipients=["alice@example.com"], body="Your code is 7KQ2XM.")
        return mail.send(message, template="code", expires_at=clock.now() + timedelta(seconds=ttl))


@pytest.fixture
def down_port() -> int:
    """A port where no mail server listens yet."""
    return free_port()


@pytest.mark.parametrize("app_config", [{"MAIL_SERVER": "127.0.0.1", "MAIL_SUPPRESS_SEND": False,
                                         "MAIL_TRANSPORT": "smtp", "MAIL_TIMEOUT": 2}])
def test_a_code_that_died_while_the_server_was_down_is_never_delivered(
        app: Flask, mail: Mail, runner: FlaskCliRunner, deliver: Callable[[], int], clock: FrozenClock,
        down_port: int) -> None:
    app.config["MAIL_PORT"] = down_port
    send_code(app, mail, clock)
    deliver()
    [row] = outbox_rows(app)
    assert (row.status, row.attempts) == ("queued", 0), "an unreachable server costs no attempt"
    assert "cannot connect" in (row.last_error or "")
    clock.advance(TTL + 1)
    server = SMTPServer(port=down_port).start()
    try:
        assert deliver() == 1
        assert server.messages == []
    finally:
        server.stop()
    [row] = outbox_rows(app)
    assert (row.status, row.raw) == ("expired", b"")
    assert "stopped working" in (row.last_error or "")
    assert re.search(r"expired\s+│\s+1", runner.invoke(args=["mail", "status"]).output)


def test_a_code_still_good_is_delivered_and_its_body_dropped(
        app: Flask, mail: Mail, smtp: SMTPServer, deliver: Callable[[], int], clock: FrozenClock) -> None:
    send_code(app, mail, clock)
    clock.advance(TTL - 1)
    assert deliver() == 1
    [received] = smtp.wait_for(1)
    assert "7KQ2XM" in received.text()
    [row] = outbox_rows(app)
    assert (row.status, row.raw) == ("sent", b""), "the code is not kept once it went out"


def test_mail_without_an_expiry_keeps_its_body_after_delivery(
        app: Flask, mail: Mail, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    with app.app_context():
        mail.send(Message("Hello", recipients=["alice@example.com"], body="No secret here."))
    deliver()
    [row] = outbox_rows(app)
    assert row.status == "sent"
    assert b"No secret here." in row.raw


@pytest.mark.parametrize("reply", ["550 5.1.1 No such user", "554 5.7.1 Rejected"])
def test_a_failed_code_loses_its_body_and_cannot_be_queued_again(
        app: Flask, mail: Mail, smtp: SMTPServer, runner: FlaskCliRunner, deliver: Callable[[], int],
        clock: FrozenClock, reply: str) -> None:
    smtp.fail_data(reply)
    send_code(app, mail, clock)
    deliver()
    [row] = outbox_rows(app)
    assert (row.status, row.raw) == ("failed", b"")
    refused = runner.invoke(args=["mail", "retry", str(row.id)])
    assert refused.exit_code == 1
    assert "ask for a new email" in refused.output
    everything = runner.invoke(args=["mail", "retry", "--all-failed"])
    assert "0 failed message(s) queued again" in everything.output
