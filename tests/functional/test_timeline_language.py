"""An address's and a message's timeline read in the admin's language: the details our own code
writes (why a request was skipped, where a record came from, a delivery's reply around a refusal) are
translated with full-width punctuation, and what a server wrote stays as written, marked as English."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import accounts
from tests.conftest import csrf_token
from tests.support.accounts import without_browser_check
from tests.support.crawl import latin_left, read
from tests.support.outbox import outbox
from tests.support.smtp import SMTPServer

ALICE = "alice@example.com"
REFUSAL = "550 5.1.1 No such user here"
SKIPPED = {"zh_Hans": "超出频率限制（经由重设密码请求）", "zh_Hant": "超出頻率限制（經由重設密碼請求）",
           "en": "rate limited (via reset request)"}
DATA = (ALICE, "Mailroom", "root")
REPLY = f'<code translate="no" lang="en">{REFUSAL}</code>'


@pytest.fixture
def admin(app: Flask, make_user: Callable[..., User], runner: FlaskCliRunner,
          login: Callable[..., Any]) -> User:
    """An admin, signed in on the test client."""
    user = make_user("root", "root@example.com")
    runner.invoke(args=["users", "grant-admin", "root@example.com"])
    without_browser_check(app, "root@example.com")
    login("root")
    return user


def speak(app: Flask, user_id: int, language: str) -> None:
    """Store the admin's language."""
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        accounts.set_language(user, language, "UTC")


def ask_for_reset(app: Flask, address: str) -> None:
    """Post the reset request form from a browser of its own."""
    visitor = app.test_client()
    data = {"email": address, "csrf_token": csrf_token(visitor, "/auth/reset_password_request")}
    visitor.post("/auth/reset_password_request", data=data)


def details(page: str) -> list[str]:
    """The markup of each timeline line's detail."""
    return re.findall(r'<span class="timeline-detail(?: fw-bold)?">(.*?)</span></td>', page)


@pytest.mark.parametrize("language", ["zh_Hans", "zh_Hant", "en"])
def test_the_address_timeline_says_its_details_in_the_admins_language(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User], admin: User, language: str) -> None:
    make_user()
    speak(app, admin.id, language)
    app.config["RATELIMIT_RESET_PER_ADDRESS"] = "1 per hour"
    ask_for_reset(app, ALICE)
    smtp.refuse_recipient(ALICE, REFUSAL)
    deliver()
    ask_for_reset(app, ALICE)
    page = client.get(f"/admin/mail/addresses?address={ALICE}").get_data(as_text=True)
    lines = details(page)
    assert SKIPPED[language] in [re.sub(r"</?code[^>]*>", "", line) for line in lines], lines
    assert any(REPLY in line for line in lines), "the server's reply stays as written, marked as English"
    if language != "en":
        assert not latin_left(read(page).segments, DATA), "no English left on the page"
        assert ": " not in "".join(re.sub(r"<code.*?</code>", "", line) for line in lines)
        assert f'（<span translate="no" lang="en">{REFUSAL}</span>）' in page, "the suppression's reason too"


@pytest.mark.parametrize("language", ["zh_Hans", "zh_Hant"])
def test_a_message_timeline_keeps_the_reply_and_translates_the_rest(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User], admin: User, language: str) -> None:
    make_user()
    speak(app, admin.id, language)
    ask_for_reset(app, ALICE)
    deliver()
    [row] = [r for r in outbox(app) if r.recipients == [ALICE]]
    page = client.get(f"/admin/mail/messages/{row.id}").get_data(as_text=True)
    lines = details(page)
    assert lines[0].startswith('<code translate="no" lang="en">reset_password</code>（'), lines
    assert any(line.startswith('<code translate="no" lang="en">250 ') for line in lines), lines
    assert not latin_left(read(page).segments, DATA), "no English left on the page"
