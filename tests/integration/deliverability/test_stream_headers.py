"""The app's announcements through a real aiosmtpd: each copy says how to leave (one-click
unsubscribe) and carries its announcement in the Feedback-ID. The stream headers themselves are
Flask-Mailroom's (flask-mailroom/tests/deliverability/test_streams.py)."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage

import pytest
from flask import Flask

from mailroom.models import User
from mailroom.services import announcements
from tests.support.smtp import SMTPServer

FEEDBACK = {"MAIL_FEEDBACK_ID": "mailroom-test"}


def bulk_mail(app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> EmailMessage:
    """Send an announcement (one copy: alice is the only subscriber), deliver it, and return it as
    the server received it."""
    with app.app_context():
        draft = announcements.create("News", "Hello everyone.")
        announcements.send(draft.id)
    deliver()
    return smtp.wait_for(1)[0].message


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    """A confirmed, subscribed user."""
    return make_user()


@pytest.mark.parametrize("app_config", [FEEDBACK])
def test_bulk_mail_has_one_click_unsubscribe(app: Flask, smtp: SMTPServer,
                                             deliver: Callable[[], int], alice: User) -> None:
    message = bulk_mail(app, smtp, deliver)
    assert str(message["List-Unsubscribe"]).startswith("<https://mailroom.test/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize("app_config", [FEEDBACK])
def test_bulk_mail_has_a_feedback_id_and_is_not_auto_submitted(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int], alice: User) -> None:
    message = bulk_mail(app, smtp, deliver)
    with app.app_context():
        [announcement] = announcements.recent()
    assert message["Feedback-ID"] == f"announcement-{announcement.id}:bulk:mailroom-test"
    assert message["Auto-Submitted"] is None
    assert message["X-Auto-Response-Suppress"] is None
