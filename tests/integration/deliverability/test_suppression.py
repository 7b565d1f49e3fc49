"""A complaint in the app: it stops the announcements (the person is unsubscribed) but not account
mail. The suppression rules themselves are Flask-Mailroom's (flask-mailroom/tests/deliverability)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_mailroom.compose.outbox import send_email
from flask_mailroom.deliverability import suppression as deliverability

from mailroom.extensions import db
from mailroom.state import now
from tests.support.accounts import stored_user
from tests.support.outbox import outbox
from tests.support.smtp import SMTPServer

ALICE = "alice@example.com"


def queue_test_mail(app: Flask, to: str = ALICE) -> None:
    """Queue one account email to ``to``."""
    with app.app_context():
        send_email("test", to, sent_at=now(), address=to, site_url="https://mailroom.test/")
        db.session.commit()


def test_a_complaint_stops_bulk_mail_but_not_account_mail(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., Any]) -> None:
    from mailroom.services import announcements

    alice = make_user()
    with app.app_context():
        draft = announcements.create("News", "Hello everyone.")
        announcements.send(draft.id)
        deliverability.record_complaint(ALICE, "test", "abuse")
        db.session.commit()
        assert announcements.count_recipients() == 0  # the complaint unsubscribed alice
    queue_test_mail(app)
    deliver()
    assert [(r.kind, r.status) for r in outbox(app)] == [("bulk", "suppressed"), ("transactional", "sent")]
    assert [m.message["Subject"] for m in smtp.messages] == ["Mailroom test message"]
    assert stored_user(app, alice.id).subscribed is False
