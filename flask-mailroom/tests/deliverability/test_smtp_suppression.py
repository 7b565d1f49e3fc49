"""One per-address state fed by SMTP refusals: a 5xx at RCPT suppresses the address, the worker
then marks mail to it ``suppressed``; a complaint stops bulk mail only; soft bounces add up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from flask_mailroom import Mail, Message
from flask_mailroom.compose.outbox import send_email
from flask_mailroom.deliverability import suppression as deliverability
from flask_mailroom.models import BULK, MailEvent, Suppression
from flask_mailroom.store import db, now

from support.outbox import outbox_rows
from support.smtp import SMTPServer

ALICE = "alice@example.com"


def queue_test_mail(app: Flask, to: str = ALICE) -> None:
    """Queue one account email to ``to`` from the test app's template pair."""
    with app.app_context():
        send_email("test", to, sent_at=now(), address=to, site_url="https://mailroom.test/")
        db.session.commit()


def suppression(app: Flask, address: str = ALICE) -> Suppression | None:
    """The stored suppression of an address, detached."""
    with app.app_context():
        found = deliverability.suppression_of(address)
        if found is not None:
            db.session.expunge(found)
        return found


def test_a_5xx_at_rcpt_suppresses_and_later_mail_is_marked_suppressed(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    smtp.refuse_recipient(ALICE, "550 5.1.1 No such user here")
    queue_test_mail(app)
    deliver()
    found = suppression(app)
    assert found is not None
    assert (found.scope, found.reason) == ("all", "hard bounce")
    assert found.detail == "550 5.1.1 No such user here"
    queue_test_mail(app)
    queue_test_mail(app, "bob@example.com")
    deliver()
    first, second, third = outbox_rows(app)
    assert first.status == "failed"
    assert (second.status, second.last_error) == ("suppressed", f"every recipient is suppressed: {ALICE}")
    assert third.status == "sent"
    assert [m.rcpt_tos for m in smtp.messages] == [["bob@example.com"]]


def test_a_4xx_at_rcpt_is_retried_and_suppresses_nothing(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    smtp.refuse_recipient(ALICE, "450 4.2.1 Mailbox busy")
    queue_test_mail(app)
    deliver()
    assert outbox_rows(app)[0].status == "queued"
    assert suppression(app) is None


def test_lifting_a_suppression_lets_mail_through_again(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    with app.app_context():
        deliverability.record_bounce(ALICE, "hard", "test", "550 gone")
        db.session.commit()
        assert deliverability.lift(ALICE, "admin@example.com")
        assert not deliverability.lift(ALICE, "admin@example.com")
    queue_test_mail(app)
    deliver()
    assert outbox_rows(app)[0].status == "sent"


def test_a_complaint_stops_bulk_mail_but_not_account_mail(
        app: Flask, mail: Mail, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    with app.app_context():
        mail.send(Message("News", recipients=[ALICE], body="Hello everyone."), kind=BULK, template="news")
        deliverability.record_complaint(ALICE, "test", "abuse")
        db.session.commit()
    queue_test_mail(app)
    deliver()
    assert [(r.kind, r.status) for r in outbox_rows(app)] == [
        ("bulk", "suppressed"), ("transactional", "sent")]
    assert [m.message["Subject"] for m in smtp.messages] == ["Minimal test message"]
    found = suppression(app)
    assert found is not None
    assert found.scope != "all", "account mail still reaches a person who complained"


@pytest.mark.parametrize("app_config", [{"MAIL_SOFT_BOUNCE_LIMIT": 3, "MAIL_SOFT_BOUNCE_DAYS": 7}])
def test_soft_bounces_suppress_once_they_reach_the_limit_within_the_window(
        app: Flask, clock: Any) -> None:
    with app.app_context():
        deliverability.record_bounce(ALICE, "soft", "test", "mailbox full")
        clock.advance(timedelta(days=8).total_seconds())
        for _ in range(2):
            deliverability.record_bounce(ALICE, "soft", "test", "mailbox full")
            db.session.commit()
        assert deliverability.suppression_of(ALICE) is None
        deliverability.record_bounce(ALICE, "soft", "test", "mailbox full")
        db.session.commit()
        found = deliverability.suppression_of(ALICE)
        assert found is not None
        assert (found.reason, found.detail) == ("soft bounces", "3 soft bounces within 7 days")
        kinds = [e.kind for e in db.session.query(MailEvent).order_by(MailEvent.id)]
        assert kinds == ["bounce_soft"] * 4
