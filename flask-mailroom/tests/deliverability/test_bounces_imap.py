"""``flask mail bounces`` against a real IMAP (and POP3) server, Dovecot, started by the tests: the
reports are recorded once and removed, other mail is left read; a wrong password, a missing folder
and an untrusted certificate are explained, and a report that could not be recorded is read again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import select

from flask_mailroom import Mail
from flask_mailroom.deliverability import bounces
from flask_mailroom.deliverability import suppression as deliverability
from flask_mailroom.models.deliverability import MailEvent
from flask_mailroom.store import db

from support.dovecot import Dovecot, require_dovecot

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail_events"
HARD = (FIXTURES / "dsn_hard.eml").read_bytes()
SOFT = (FIXTURES / "dsn_soft.eml").read_bytes()
REPLY = b"From: someone@example.com\r\nTo: bounces@mailroom.test\r\nSubject: Re: hello\r\n\r\nThanks!\r\n"
SUBJECTS = [b"Subject: Delivery Status Notification (Failure)", b"Subject: Re: hello",
            b"Subject: Delivery Status Notification (Delay)"]
RECORDED = [("bounce_hard", "gone@example.org"), ("bounce_soft", "full@example.net")]


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """Dovecot on loopback (IMAP, IMAPS, POP3, POP3S) with an empty INBOX; stopped after the test."""
    require_dovecot(pop3=True)
    server = Dovecot(pop3=True).start()
    yield server
    server.stop()


@pytest.fixture
def host(tmp_path: Path, dovecot: Dovecot) -> Iterator[Flask]:
    """A minimal host: Flask, Flask-SQLAlchemy on SQLite and Mail, the mail tables created; the
    server's certificate trusted."""
    app = Flask(__name__)
    app.config.update(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'host.sqlite3'}",
                      MAIL_DEFAULT_SENDER="noreply@mailroom.test", MAIL_SSL_CAFILE=str(dovecot.cafile),
                      MAIL_TIMEOUT=10)
    database = SQLAlchemy(app)
    mail = Mail(app)
    with app.app_context():
        mail.upgrade()
    yield app
    with app.app_context():
        database.engine.dispose()


def run_bounces(app: Flask, url: str) -> tuple[int, str]:
    """``flask mail bounces`` with MAIL_BOUNCES_URL=url: (exit code, output)."""
    app.config["MAIL_BOUNCES_URL"] = url
    result = app.test_cli_runner().invoke(args=["mail", "bounces"])
    return result.exit_code, result.output


def recorded(app: Flask) -> list[tuple[str, str]]:
    """(kind, address) of every recorded event, in order."""
    with app.app_context():
        return [(e.kind, e.address_key) for e in db.session.scalars(select(MailEvent).order_by(MailEvent.id))]


@pytest.mark.parametrize("scheme", ["imaps", "imap"])
def test_reports_are_recorded_once_and_removed_other_mail_is_left_read(
        host: Flask, dovecot: Dovecot, scheme: str) -> None:
    dovecot.deliver(HARD, REPLY, SOFT)
    code, output = run_bounces(host, dovecot.url(scheme))
    assert code == 0, output
    assert "3 message(s) read, 2 report(s), 2 address report(s) recorded" in output
    assert recorded(host) == RECORDED
    with host.app_context():
        assert deliverability.suppression_of("gone@example.org") is not None
        assert deliverability.suppression_of("full@example.net") is None
    assert dovecot.flags() == {SUBJECTS[1]: {"\\Seen"}}
    code, output = run_bounces(host, dovecot.url(scheme))
    assert (code, output.strip()) == (0, "0 message(s) read, 0 report(s), 0 address report(s) recorded")
    assert recorded(host) == RECORDED
    assert "imap" in dovecot.log.read_text()


def test_mail_arriving_after_a_run_is_read_by_the_next(host: Flask, dovecot: Dovecot) -> None:
    dovecot.deliver(REPLY)
    assert run_bounces(host, dovecot.url())[0] == 0
    dovecot.deliver(HARD)
    output = run_bounces(host, dovecot.url())[1]
    assert "1 message(s) read, 1 report(s), 1 address report(s) recorded" in output, output
    assert recorded(host) == RECORDED[:1]
    assert dovecot.flags() == {SUBJECTS[1]: {"\\Seen"}}


@pytest.mark.parametrize(("in_url", "on_server"), [("Bounce%20Reports", "Bounce Reports"),
                                                    ("R%C3%BCckl%C3%A4ufer", "R&APw-ckl&AOQ-ufer"),
                                                    ("Bounces%20&%20Replies", "Bounces &- Replies")])
def test_a_folder_whose_name_has_spaces_or_letters_beyond_ascii_is_read(
        host: Flask, dovecot: Dovecot, in_url: str, on_server: str) -> None:
    dovecot.deliver(SOFT, REPLY, folder=on_server)
    dovecot.deliver(HARD)
    output = run_bounces(host, dovecot.url(folder=in_url))[1]
    assert "2 message(s) read, 1 report(s), 1 address report(s) recorded" in output, output
    assert recorded(host) == RECORDED[1:]
    assert dovecot.flags(on_server) == {SUBJECTS[1]: {"\\Seen"}}
    assert dovecot.flags() == {SUBJECTS[0]: set()}


def test_a_missing_folder_is_named(host: Flask, dovecot: Dovecot) -> None:
    code, output = run_bounces(host, dovecot.url(folder="Bounces"))
    assert code == 1
    assert f"Error: cannot read imaps://127.0.0.1:{dovecot.ports['imaps']}: " in output
    assert "cannot open the folder 'Bounces'" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("scheme", ["imaps", "imap", "pop3s", "pop3"])
def test_a_wrong_password_is_explained_and_nothing_is_touched(
        host: Flask, dovecot: Dovecot, scheme: str) -> None:
    dovecot.deliver(HARD)
    code, output = run_bounces(host, dovecot.url(scheme, password="wrong"))
    assert code == 1
    assert output.startswith(f"Error: cannot read {scheme}://127.0.0.1:{dovecot.ports[scheme]}: ")
    assert "Authentication failed" in output
    assert "b'" not in output, "the server's words, not Python's bytes"
    assert "Traceback" not in output
    assert dovecot.flags() == {SUBJECTS[0]: set()}
    assert recorded(host) == []


@pytest.mark.parametrize("scheme", ["imaps", "imap", "pop3s", "pop3"])
def test_an_untrusted_certificate_is_refused_before_signing_in(
        host: Flask, dovecot: Dovecot, scheme: str) -> None:
    dovecot.deliver(HARD)
    logins = dovecot.log.read_text().count("Login: user=<bounces>")
    host.config["MAIL_SSL_CAFILE"] = None
    code, output = run_bounces(host, dovecot.url(scheme))
    assert code == 1
    assert "certificate verify failed: self-signed certificate" in output, output
    assert "Traceback" not in output
    assert dovecot.log.read_text().count("Login: user=<bounces>") == logins
    assert dovecot.flags() == {SUBJECTS[0]: set()}


def test_a_report_that_could_not_be_recorded_stays_unread_for_the_next_run(
        host: Flask, dovecot: Dovecot) -> None:
    dovecot.deliver(HARD, REPLY)

    def failing(raw: bytes) -> int:
        """The database is down."""
        raise RuntimeError("database unavailable")

    with pytest.raises(RuntimeError, match="database unavailable"):
        bounces.fetch(dovecot.url(), failing, str(dovecot.cafile), 10)
    assert dovecot.flags() == {SUBJECTS[0]: set(), SUBJECTS[1]: set()}
    output = run_bounces(host, dovecot.url())[1]
    assert "2 message(s) read, 1 report(s), 1 address report(s) recorded" in output, output
    assert recorded(host) == RECORDED[:1]


@pytest.mark.parametrize("scheme", ["pop3s", "pop3"])
def test_the_bounce_mailbox_is_read_over_pop3(host: Flask, dovecot: Dovecot, scheme: str) -> None:
    dovecot.deliver(HARD, REPLY, SOFT)
    output = run_bounces(host, dovecot.url(scheme))[1]
    assert "3 message(s) read, 2 report(s), 2 address report(s) recorded" in output, output
    assert recorded(host) == RECORDED
    assert list(dovecot.flags()) == [SUBJECTS[1]]
    output = run_bounces(host, dovecot.url(scheme))[1]
    assert "1 message(s) read, 0 report(s), 0 address report(s) recorded" in output, output
    assert recorded(host) == RECORDED
