"""``flask mail bounces`` against a real POP3 server holding a hard-bounce DSN, a soft-bounce DSN and
a person's reply: the reports are recorded and removed, the reply stays."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from flask_mailroom.deliverability import suppression as deliverability
from flask_mailroom.models.deliverability import MailEvent
from flask_mailroom.store import db

from support.pop3 import PASSWORD, USER, POP3Server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail_events"
REPLY = b"From: someone@example.com\r\nTo: bounces@mailroom.test\r\nSubject: Re: hello\r\n\r\nThanks!\r\n"


@pytest.fixture
def pop3() -> Iterator[POP3Server]:
    """A POP3 server with two reports and one ordinary message."""
    server = POP3Server().start()
    server.maildrop.messages = [(FIXTURES / "dsn_hard.eml").read_bytes(), REPLY,
                                (FIXTURES / "dsn_soft.eml").read_bytes()]
    yield server
    server.stop()


def test_the_bounce_mailbox_is_read_over_pop3(app: Flask, runner: FlaskCliRunner, pop3: POP3Server) -> None:
    app.config["MAIL_BOUNCES_URL"] = f"pop3://{USER}:{PASSWORD}@127.0.0.1:{pop3.port}"
    result = runner.invoke(args=["mail", "bounces"])
    assert result.exit_code == 0, result.output
    assert "3 message(s) read, 2 report(s), 2 address report(s) recorded" in result.output
    assert pop3.maildrop.messages == [REPLY]
    with app.app_context():
        kinds = [(e.kind, e.address_key, e.source) for e in db.session.scalars(select(MailEvent))]
        assert kinds == [("bounce_hard", "gone@example.org", "dsn:pop3"),
                         ("bounce_soft", "full@example.net", "dsn:pop3")]
        assert deliverability.suppression_of("gone@example.org") is not None
    again = runner.invoke(args=["mail", "bounces"])
    assert "1 message(s) read, 0 report(s)" in again.output


@pytest.mark.parametrize(("url", "message"), [
    (None, "MAIL_BOUNCES_URL is not set"),
    ("ftp://x:y@host", "must be imap://, imaps://, pop3:// or pop3s://"),
    ("pop3://127.0.0.1:{port}", "must carry the mailbox's user name and password"),
    ("pop3://bounces:wrong@127.0.0.1:{port}", "cannot read pop3://127.0.0.1"),
])
def test_a_mailbox_that_cannot_be_read_is_explained(app: Flask, runner: FlaskCliRunner,
                                                    pop3: POP3Server, url: Any, message: str) -> None:
    app.config["MAIL_BOUNCES_URL"] = url.format(port=pop3.port) if url else None
    result = runner.invoke(args=["mail", "bounces"])
    assert result.exit_code == 1
    assert message in result.output
    assert len(pop3.maildrop.messages) == 3
