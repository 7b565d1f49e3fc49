"""What people and admins see: the bounced-address banner on the account page (and asking us to
try again), the admin's suppressions, the per-address and per-message timelines."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_mailroom.deliverability import suppression as deliverability

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import accounts
from tests.conftest import csrf_token
from tests.support.accounts import without_browser_check
from tests.support.outbox import outbox
from tests.support.smtp import SMTPServer

ALICE = "alice@example.com"


def bounce(app: Flask, address: str = ALICE, kind: str = "hard") -> None:
    """Record a bounce for the address."""
    with app.app_context():
        deliverability.record_bounce(address, kind, "test", "550 5.1.1 user unknown")
        db.session.commit()


def ask_for_reset(app: Flask, address: str) -> None:
    """Post the reset request form from a browser of its own (admins are signed in)."""
    visitor = app.test_client()
    data = {"email": address, "csrf_token": csrf_token(visitor, "/auth/reset_password_request")}
    assert visitor.post("/auth/reset_password_request", data=data).status_code == 302


def test_the_account_page_says_the_address_bounced_and_the_owner_can_ask_to_try_again(
        app: Flask, client: FlaskClient, make_user: Callable[..., User],
        login: Callable[..., Any]) -> None:
    make_user()
    login()
    assert 'id="bounced-banner"' not in client.get("/account/").get_data(as_text=True)
    bounce(app)
    page = client.get("/account/").get_data(as_text=True)
    assert f"Mail to {ALICE} bounced on March 2, 2026" in page
    answer = client.post("/account/email/try-again", data={"csrf_token": csrf_token(client, "/account/")})
    assert (answer.status_code, answer.location) == (303, "/account/#address")
    page = client.get("/account/").get_data(as_text=True)
    assert 'id="bounced-banner"' not in page
    assert f"We will send mail to {ALICE} again." in page
    with app.app_context():
        assert deliverability.suppression_of(ALICE) is None


def test_a_complaint_alone_shows_no_bounce_banner(app: Flask, client: FlaskClient,
                                                  make_user: Callable[..., User],
                                                  login: Callable[..., Any]) -> None:
    make_user()
    login()
    with app.app_context():
        deliverability.record_complaint(ALICE, "test")
        db.session.commit()
    assert 'id="bounced-banner"' not in client.get("/account/").get_data(as_text=True)


@pytest.fixture
def admin(app: Flask, make_user: Callable[..., User], runner: FlaskCliRunner,
          login: Callable[..., Any]) -> User:
    """An admin, signed in on the test client."""
    user = make_user("root", "root@example.com")
    runner.invoke(args=["users", "grant-admin", "root@example.com"])
    without_browser_check(app, "root@example.com")
    login("root")
    return user


def test_the_admin_sees_why_an_address_got_no_email(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User], admin: User, clock: Any) -> None:
    make_user()
    ask_for_reset(app, "nobody@example.com")
    ask_for_reset(app, ALICE)
    smtp.refuse_recipient(ALICE, "550 5.1.1 No such user here")
    deliver()
    clock.advance(60)
    ask_for_reset(app, ALICE)
    deliver()
    page = client.get(f"/admin/mail/addresses?address={ALICE}").get_data(as_text=True)
    whats = re.findall(r'class="timeline-what">([^<]*)<', page)
    # Newest first: the latest line answers the question.
    assert whats == ["skipped: suppressed", "asked for", "bounced (hard)", "failed", "asked for"]
    assert "550 5.1.1 No such user here" in page
    assert 'id="suppression"' in page
    nobody = client.get("/admin/mail/addresses?address=nobody@example.com").get_data(as_text=True)
    assert "no account has this address" in nobody
    listed = client.get("/admin/mail/suppressions").get_data(as_text=True)
    assert ALICE in listed
    lift = client.post("/admin/mail/addresses/lift",
                       data={"address": ALICE, "csrf_token": csrf_token(client, "/admin/mail/suppressions")})
    assert lift.status_code == 302
    assert 'id="no-suppressions"' in client.get("/admin/mail/suppressions").get_data(as_text=True)


def test_the_message_timeline_shows_the_server_reply_and_never_an_account_body(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User], admin: User) -> None:
    make_user()
    ask_for_reset(app, ALICE)
    deliver()
    [row] = [r for r in outbox(app) if r.recipients == [ALICE]]
    page = client.get(f"/admin/mail/messages/{row.id}").get_data(as_text=True)
    assert "250 Message accepted" in page
    assert "has been removed from the outbox" in page
    assert "reset_password/" not in page
    assert client.get("/admin/mail/messages/999").status_code == 404


def test_rate_limited_requests_show_as_skipped(app: Flask, client: FlaskClient, admin: User) -> None:
    app.config["RATELIMIT_RESET_PER_ADDRESS"] = "1 per hour"
    for _ in range(2):
        ask_for_reset(app, ALICE)
    page = client.get(f"/admin/mail/addresses?address={ALICE}").get_data(as_text=True)
    assert "rate limited" in page


def test_an_admin_reads_timelines_in_their_language_and_time_zone(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User], admin: User) -> None:
    with app.app_context():
        root = db.session.get(User, admin.id)
        assert root is not None
        accounts.set_language(root, "zh_Hant", "Asia/Taipei")
    make_user()
    ask_for_reset(app, ALICE)
    smtp.refuse_recipient(ALICE, "550 5.1.1 No such user here")
    deliver()
    [row] = [r for r in outbox(app) if r.recipients == [ALICE]]
    page = client.get(f"/admin/mail/addresses?address={ALICE}").get_data(as_text=True)
    whats = re.findall(r'class="timeline-what">([^<]*)<', page)
    assert whats == ["退信（硬退信）", "失敗", "已要求"]
    assert "時間（GMT+8）" in page
    taipei = row.created_at.replace(tzinfo=UTC).astimezone(ZoneInfo("Asia/Taipei"))
    assert taipei.strftime("%Y-%m-%d %H:%M:%S") in page, "times are the reader's, not UTC"
    assert "起已停止寄送" in page, "the suppression line is translated"
    message = client.get(f"/admin/mail/messages/{row.id}").get_data(as_text=True)
    assert "嘗試次數" in message
    assert "UTC" not in message
