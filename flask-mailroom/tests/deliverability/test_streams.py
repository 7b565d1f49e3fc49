"""Headers per stream, delivered through a real aiosmtpd: account mail says it is automatic, bulk
mail says it is bulk, both carry a Feedback-ID when configured, and the Message-ID the server sees
is the one the outbox row keeps across retries."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask

from flask_mailroom import Mail, Message
from flask_mailroom.compose.outbox import send_email
from flask_mailroom.models import BULK
from flask_mailroom.store import db, now

from support.outbox import outbox_rows
from support.smtp import SMTPServer

FEEDBACK = {"MAIL_FEEDBACK_ID": "mailroom-test"}


def queue_account(app: Flask) -> None:
    """Queue one account email from the test app's template pair."""
    with app.app_context():
        send_email("test", "alice@example.com", sent_at=now(),
                   address="alice@example.com", site_url="https://mailroom.test/")
        db.session.commit()


def queue_bulk(app: Flask) -> None:
    """Queue one bulk message (a newsletter's copy) with ``mail.send(..., kind=BULK)``."""
    with app.app_context():
        mail: Mail = app.extensions["mail"].mail
        mail.send(Message("News", recipients=["alice@example.com"], body="Hello everyone."),
                  kind=BULK, template="newsletter-7")


QUEUE = {"account": queue_account, "bulk": queue_bulk}


def received(app: Flask, smtp: SMTPServer, deliver: Callable[[], int], stream: str) -> EmailMessage:
    """Queue one message of the stream, deliver it, and return it as the server received it."""
    before = len(smtp.messages)
    QUEUE[stream](app)
    deliver()
    return smtp.wait_for(before + 1)[before].message


@pytest.mark.parametrize("app_config", [FEEDBACK])
def test_account_mail_is_auto_submitted_and_suppresses_auto_responses(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    message = received(app, smtp, deliver, "account")
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Auto-Response-Suppress"] == "All"


@pytest.mark.parametrize("app_config", [FEEDBACK])
def test_account_mail_has_a_feedback_id_and_no_bulk_headers(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    message = received(app, smtp, deliver, "account")
    assert message["Feedback-ID"] == "test:account:mailroom-test"
    for name in ("Precedence", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert message[name] is None, name


@pytest.mark.parametrize("app_config", [FEEDBACK])
def test_bulk_mail_says_precedence_bulk_with_its_campaign_in_the_feedback_id(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    message = received(app, smtp, deliver, "bulk")
    assert message["Precedence"] == "bulk"
    assert message["Feedback-ID"] == "newsletter-7:bulk:mailroom-test"
    assert message["Auto-Submitted"] is None
    assert message["X-Auto-Response-Suppress"] is None


def test_without_a_feedback_id_setting_neither_stream_has_one(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    account = received(app, smtp, deliver, "account")
    bulk = received(app, smtp, deliver, "bulk")
    assert (account["Feedback-ID"], bulk["Feedback-ID"]) == (None, None)
    assert (account["Auto-Submitted"], bulk["Precedence"]) == ("auto-generated", "bulk")


@pytest.mark.parametrize("stream", ["account", "bulk"])
def test_the_message_id_is_the_rows_and_survives_a_retry(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int], clock: Any, stream: str) -> None:
    smtp.fail_data("450 4.2.1 Mailbox busy, try again later")  # 451 would only slow the sender
    QUEUE[stream](app)
    deliver()
    assert smtp.messages == []
    clock.advance(3600)
    deliver()
    [delivered] = smtp.wait_for(1)
    [row] = outbox_rows(app)
    assert delivered.message["Message-ID"] == row.message_id
