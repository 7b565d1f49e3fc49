"""Headers per stream, delivered through a real aiosmtpd: account mail says it is automatic, bulk
mail says it is bulk and how to leave, both carry a Feedback-ID when configured, and the
Message-ID the server sees is the one the outbox row keeps across retries."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask_mailroom.compose.outbox import send_email

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import announcements
from mailroom.state import now
from tests.support.outbox import outbox
from tests.support.smtp import SMTPServer

FEEDBACK = {"MAIL_FEEDBACK_ID": "mailroom-test"}


def queue_account(app: Flask) -> None:
    """Queue one account email."""
    with app.app_context():
        send_email("test", "alice@example.com", sent_at=now(),
                   address="alice@example.com", site_url="https://mailroom.test/")
        db.session.commit()


def queue_bulk(app: Flask) -> None:
    """Queue an announcement's copies (one: alice is the only subscriber)."""
    with app.app_context():
        draft = announcements.create("News", "Hello everyone.")
        announcements.send(draft.id)


QUEUE = {"account": queue_account, "bulk": queue_bulk}


def received(app: Flask, smtp: SMTPServer, deliver: Callable[[], int], stream: str) -> EmailMessage:
    """Queue one message of the stream, deliver it, and return it as the server received it."""
    before = len(smtp.messages)
    QUEUE[stream](app)
    deliver()
    return smtp.wait_for(before + 1)[before].message


def account_mail(app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> EmailMessage:
    """One account email as the server received it."""
    return received(app, smtp, deliver, "account")


def bulk_mail(app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> EmailMessage:
    """One announcement copy as the server received it."""
    return received(app, smtp, deliver, "bulk")


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    """A confirmed, subscribed user."""
    return make_user()


@pytest.mark.parametrize("app_config", [FEEDBACK])
def test_account_mail_is_auto_submitted(app: Flask, smtp: SMTPServer, deliver: Callable[[], int],
                                        alice: User) -> None:
    assert account_mail(app, smtp, deliver)["Auto-Submitted"] == "auto-generated"


@pytest.mark.parametrize("app_config", [FEEDBACK])
def test_account_mail_suppresses_auto_responses(app: Flask, smtp: SMTPServer,
                                                deliver: Callable[[], int], alice: User) -> None:
    assert account_mail(app, smtp, deliver)["X-Auto-Response-Suppress"] == "All"


@pytest.mark.parametrize("app_config", [FEEDBACK])
def test_account_mail_has_a_feedback_id_and_no_bulk_headers(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int], alice: User) -> None:
    message = account_mail(app, smtp, deliver)
    assert message["Feedback-ID"] == "test:account:mailroom-test"
    for name in ("Precedence", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert message[name] is None, name


@pytest.mark.parametrize("app_config", [FEEDBACK])
def test_bulk_mail_has_one_click_unsubscribe(app: Flask, smtp: SMTPServer,
                                             deliver: Callable[[], int], alice: User) -> None:
    message = bulk_mail(app, smtp, deliver)
    assert str(message["List-Unsubscribe"]).startswith("<https://mailroom.test/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize("app_config", [FEEDBACK])
def test_bulk_mail_says_precedence_bulk(app: Flask, smtp: SMTPServer, deliver: Callable[[], int],
                                        alice: User) -> None:
    assert bulk_mail(app, smtp, deliver)["Precedence"] == "bulk"


@pytest.mark.parametrize("app_config", [FEEDBACK])
def test_bulk_mail_has_a_feedback_id_and_is_not_auto_submitted(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int], alice: User) -> None:
    message = bulk_mail(app, smtp, deliver)
    with app.app_context():
        [announcement] = announcements.recent()
    assert message["Feedback-ID"] == f"announcement-{announcement.id}:bulk:mailroom-test"
    assert message["Auto-Submitted"] is None
    assert message["X-Auto-Response-Suppress"] is None


def test_without_a_feedback_id_setting_neither_stream_has_one(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int], alice: User) -> None:
    account = account_mail(app, smtp, deliver)
    bulk = bulk_mail(app, smtp, deliver)
    assert (account["Feedback-ID"], bulk["Feedback-ID"]) == (None, None)
    assert (account["Auto-Submitted"], bulk["Precedence"]) == ("auto-generated", "bulk")


@pytest.mark.parametrize("stream", ["account", "bulk"])
def test_the_message_id_is_the_rows_and_survives_a_retry(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int], alice: User, clock: Any,
        stream: str) -> None:
    smtp.fail_data("450 4.2.1 Mailbox busy, try again later")  # 451 would only slow the sender
    QUEUE[stream](app)
    deliver()
    assert smtp.messages == []
    clock.advance(3600)
    deliver()
    [delivered] = smtp.wait_for(1)
    [row] = outbox(app)
    assert delivered.message["Message-ID"] == row.message_id
