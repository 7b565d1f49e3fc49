"""A message's timeline covers every recipient, not only the first: a message to three people, sent
through a real SMTP server that refuses one of them, then a delivery-status notification about
another; and a message some of whose recipients were already suppressed. Each line about one
recipient names it. On SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from flask_mailroom import Mail, Message
from flask_mailroom.clock import FrozenClock
from flask_mailroom.deliverability import for_message, inbound
from flask_mailroom.deliverability import suppression as deliverability
from flask_mailroom.engine import Worker
from flask_mailroom.models.outbox import BULK, TRANSACTIONAL
from flask_mailroom.store import db, state

from support import services
from support.smtp import SMTPServer

START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
ANN, BOB, CAT = "ann@example.com", "bob@example.org", "cat@example.net"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail_events"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new SQLite file, or a PostgreSQL database of the test's own (random name, dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'timeline.sqlite3'}"
        return
    services.require("PostgreSQL", services.POSTGRES_URL)
    admin = create_engine(services.POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"flask_mailroom_timeline_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(services.POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def server() -> Iterator[SMTPServer]:
    """A real SMTP server on loopback; it refuses whom the test tells it to."""
    found = SMTPServer().start()
    yield found
    found.stop()


@pytest.fixture
def frozen() -> FrozenClock:
    """The clock the app reads, moved by the test."""
    return FrozenClock(START)


@pytest.fixture
def host(database_uri: str, server: SMTPServer, frozen: FrozenClock) -> Iterator[Flask]:
    """A minimal host: Flask, Flask-SQLAlchemy and Mail delivering to ``server``; tables made by
    ``mail.upgrade()``."""
    app = Flask(__name__)
    app.config.update(SQLALCHEMY_DATABASE_URI=database_uri, MAIL_DEFAULT_SENDER="noreply@mailroom.test",
                      **server.config())
    database = SQLAlchemy(app)
    mail = Mail()
    mail.init_app(app, clock=lambda: frozen)
    with app.app_context():
        mail.upgrade()
    yield app
    with app.app_context():
        database.session.remove()
        database.engine.dispose()


def send(app: Flask, kind: str = TRANSACTIONAL) -> tuple[int, str]:
    """Queue one message to Ann, Bob and Cat and deliver it: (row id, Message-ID)."""
    with app.app_context():
        row = state(app).mail.send(Message("Hello all", recipients=[ANN, BOB, CAT], body="Hello."), kind=kind)
        row_id, message_id = row.id, row.message_id
    assert Worker(app).drain() == 1
    return row_id, message_id


def timeline(app: Flask, row_id: int) -> list[tuple[str, str, str]]:
    """(what, recipient, detail) of each line of the message's timeline."""
    with app.app_context():
        _, entries = for_message(row_id)
        db.session.commit()
    return [(e.what, e.recipient, e.detail) for e in entries]


def soft_bounce_report(address: str, message_id: str) -> bytes:
    """The delayed-delivery DSN fixture, about ``address`` and the message ``message_id``."""
    raw = (FIXTURES / "dsn_soft.eml").read_bytes()
    return raw.replace(b"full@example.net", address.encode()).replace(b"<soft-original@mailroom.test>",
                                                                      message_id.encode())


def test_every_recipient_has_its_lines_each_naming_it(host: Flask, server: SMTPServer,
                                                      frozen: FrozenClock) -> None:
    server.refuse_recipient(BOB, "550 5.1.1 No such user here")
    row_id, message_id = send(host)
    assert [m.rcpt_tos for m in server.messages] == [[ANN, CAT]]
    frozen.advance(3600)
    with host.app_context():
        assert inbound.ingest_dsn(soft_bounce_report(CAT, message_id), "dsn:imap") == 1
    assert timeline(host, row_id) == [
        ("queued", "", "transactional (transactional)"),
        ("sent", "", "accepted (refused: bob@example.org: 550 5.1.1 No such user here)"),
        ("bounced (hard)", BOB, "550 5.1.1 No such user here (via smtp)"),
        ("bounced (soft)", CAT, "4.2.2 smtp; 452 4.2.2 Mailbox full (via dsn:imap)"),
    ]


@pytest.mark.parametrize(("kind", "left_out"), [(TRANSACTIONAL, [BOB]), (BULK, [BOB, CAT])])
def test_recipients_left_out_as_suppressed_are_named(host: Flask, server: SMTPServer, frozen: FrozenClock,
                                                     kind: str, left_out: list[str]) -> None:
    with host.app_context():
        deliverability.record_bounce(BOB, "hard", "smtp", "550 5.1.1 gone")
        deliverability.record_complaint(CAT, "webhook:test", "abuse")
        db.session.commit()
    frozen.advance(60)
    row_id, _ = send(host, kind)
    assert [m.rcpt_tos for m in server.messages] == [[a for a in (ANN, BOB, CAT) if a not in left_out]]
    frozen.advance(60)
    with host.app_context():
        deliverability.record_complaint(ANN, "webhook:test", "abuse", outbox_id=row_id)
        db.session.commit()
    reasons = {BOB: "hard bounce: 550 5.1.1 gone", CAT: "complaint: abuse"}
    lines = timeline(host, row_id)
    assert [what for what, _, _ in lines[:2]] == ["queued", "sent"]
    assert lines[2:] == [*(("skipped: suppressed", a, reasons[a]) for a in left_out),
                         ("complained", ANN, "abuse (via webhook:test)")]


def test_an_unknown_message_is_a_lookup_error(host: Flask) -> None:
    with host.app_context(), pytest.raises(LookupError):
        for_message(404)
