"""RFC 3464 delivery-status notifications sent to the bounce address through the SMTP catcher:
a hard bounce suppresses at once, soft bounces once they reach the configured count."""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from flask_mailroom.compose.outbox import send_email
from flask_mailroom.deliverability import dsn
from flask_mailroom.deliverability import suppression as deliverability
from flask_mailroom.devmail.catcher import start_catcher
from flask_mailroom.models.deliverability import MailEvent
from flask_mailroom.store import db, now

from support.services import free_port
from support.smtp import SMTPServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail_events"
BOUNCES = "bounces@mailroom.test"


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Bounces come back to their own address; two soft bounces suppress."""
    return {"MAIL_BOUNCE_ADDRESS": BOUNCES, "MAIL_SOFT_BOUNCE_LIMIT": 2}


@pytest.fixture
def catcher(app: Flask) -> Iterator[int]:
    """The catcher listening on a free port; its port."""
    port = free_port()
    controller = start_catcher(app, "127.0.0.1", port)
    yield port
    controller.stop()


def hand_in(port: int, raw: bytes, to: str = BOUNCES) -> None:
    """Deliver a message to the catcher as a remote MTA would (null reverse path)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail("<>", [to], raw)


def events(app: Flask) -> list[tuple[str, str, str, int | None]]:
    """(kind, address, source, outbox id) of every recorded event."""
    with app.app_context():
        return [(e.kind, e.address_key, e.source, e.outbox_id)
                for e in db.session.scalars(select(MailEvent).order_by(MailEvent.id))]


def test_our_mail_goes_out_with_the_bounce_address_as_return_path(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    with app.app_context():
        send_email("test", "gone@example.org", sent_at=now(), address="x",
                   site_url="https://mailroom.test/")
        db.session.commit()
    deliver()
    assert smtp.wait_for(1)[0].mail_from == BOUNCES


def test_a_hard_bounce_dsn_through_the_catcher_suppresses(app: Flask, catcher: int) -> None:
    with app.app_context():
        row = send_email("test", "gone@example.org", sent_at=now(), address="x",
                         site_url="https://mailroom.test/")
        db.session.commit()
        row_id, message_id = row.id, row.message_id
    raw = (FIXTURES / "dsn_hard.eml").read_bytes().replace(b"MESSAGE_ID", message_id.encode())
    hand_in(catcher, raw)
    assert events(app) == [("bounce_hard", "gone@example.org", "dsn:catcher", row_id)]
    with app.app_context():
        found = deliverability.suppression_of("gone@example.org")
        assert found is not None
        assert (found.reason, found.scope) == ("hard bounce", "all")
        assert found.detail == ("5.1.1 smtp; 550 5.1.1 <gone@example.org>: "
                                "Recipient address rejected: User unknown")


def test_soft_bounce_dsns_suppress_at_the_configured_count(app: Flask, catcher: int) -> None:
    raw = (FIXTURES / "dsn_soft.eml").read_bytes()
    hand_in(catcher, raw)
    with app.app_context():
        assert deliverability.suppression_of("full@example.net") is None
    hand_in(catcher, raw)
    assert [e[0] for e in events(app)] == ["bounce_soft", "bounce_soft"]
    with app.app_context():
        found = deliverability.suppression_of("full@example.net")
        assert found is not None
        assert found.reason == "soft bounces"


def test_mail_to_other_addresses_is_not_read_as_a_bounce(app: Flask, catcher: int) -> None:
    hand_in(catcher, (FIXTURES / "dsn_soft.eml").read_bytes(), to="someone@mailroom.test")
    assert events(app) == []


def test_a_message_that_is_not_a_report_yields_nothing() -> None:
    assert dsn.read(b"From: a@example.com\r\nSubject: hi\r\n\r\nJust mail.\r\n") == []
