"""Reset requests under rate limits and the email budget: no extra email, never a different reply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import reset
from tests.conftest import csrf_token
from tests.support.reset_links import post_new_password
from tests.support.smtp import SMTPServer

NEW = "a brand new passphrase"


def ask(client: FlaskClient, email: str, address: str = "127.0.0.1") -> TestResponse:
    """Post the request form from a client at ``address``, then open the page it leads to."""
    environ = {"REMOTE_ADDR": address}
    token = csrf_token(client, "/auth/reset_password_request")
    return client.post("/auth/reset_password_request", data={"email": email, "csrf_token": token},
                       environ_base=environ, follow_redirects=True)


def reply(response: TestResponse, email: str = "") -> tuple[int, str, str]:
    """What a person sees: the status, the final path and the "check your email" text (the address
    they typed, which the page repeats, left out)."""
    page = response.get_data(as_text=True)
    start = page.index('id="reset-sent"') if 'id="reset-sent"' in page else 0
    text = page[start:page.find('id="reset-again-form"', start)]
    return response.status_code, response.request.path, text.replace(email, "<address>") if email else text


def delivered(smtp: SMTPServer, deliver: Callable[[], int]) -> list[str]:
    """Run the worker and list the recipients of everything the SMTP server got."""
    deliver()
    return [m.rcpt_tos[0] for m in smtp.messages]


@pytest.mark.parametrize("app_config", [{"RATELIMIT_RESET_PER_ADDRESS": "2 per hour"}])
def test_per_address_limit_sends_nothing_more_and_answers_the_same(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User]) -> None:
    make_user()
    make_user("bob", "bob@example.com")
    known = [reply(ask(app.test_client(), "alice@example.com"), "alice@example.com") for _ in range(4)]
    unknown = [reply(ask(app.test_client(), "nobody@example.com"), "nobody@example.com") for _ in range(4)]
    # Every request for an address counts alike, so the pause the page tells marks no account.
    assert known == unknown
    status, path, message = known[0]
    assert (status, path) == (200, "/auth/reset_password/sent")
    assert "If an account uses <strong><address></strong>" in message
    assert "may be paused until" not in known[0][2]
    assert "may be paused until" in known[2][2]
    assert delivered(smtp, deliver) == ["alice@example.com"] * 2
    # The limit is per address: bob's first request still goes out.
    ask(client, "bob@example.com")
    assert delivered(smtp, deliver) == ["alice@example.com"] * 2 + ["bob@example.com"]


@pytest.mark.parametrize("app_config", [{"RATELIMIT_RESET_PER_CLIENT": "3 per minute"}])
def test_per_client_limit_sends_nothing_more_and_answers_the_same(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User]) -> None:
    names = ["alice", "bob", "carol", "dave", "erin"]
    for name in names:
        make_user(name, f"{name}@example.com")
    replies = {reply(ask(client, f"{name}@example.com"), f"{name}@example.com") for name in names}
    assert len(replies) == 1
    assert sorted(delivered(smtp, deliver)) == ["alice@example.com", "bob@example.com", "carol@example.com"]
    # Another client is not held back by the first one's limit.
    ask(app.test_client(), "erin@example.com", address="192.0.2.7")
    assert delivered(smtp, deliver)[-1] == "erin@example.com"


@pytest.mark.parametrize("app_config", [{"ACCOUNT_EMAILS_PER_HOUR": 1}])
def test_a_spent_email_budget_sends_nothing_and_answers_the_same(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User]) -> None:
    make_user()
    first = reply(ask(app.test_client(), "alice@example.com"), "alice@example.com")
    second = reply(ask(app.test_client(), "alice@example.com"), "alice@example.com")
    assert first == second == reply(ask(app.test_client(), "nobody@example.com"), "nobody@example.com")
    assert delivered(smtp, deliver) == ["alice@example.com"]
    # Once the worker spent the budget, the page says so: for a known and an unknown address alike.
    ask(app.test_client(), "nobody@example.com")
    deliver()
    paused = [reply(ask(app.test_client(), email), email) for email in ("alice@example.com",
                                                                        "nobody@example.com")]
    assert paused[0] == paused[1]
    assert "may be paused until" in paused[0][2]


@pytest.mark.parametrize("app_config", [{"RATELIMIT_RESET_PER_ADDRESS": "1 per hour",
                                         "RATELIMIT_ENABLED": False}])
def test_limits_can_be_switched_off(app: Flask, smtp: SMTPServer, deliver: Callable[[], int],
                                    make_user: Callable[..., User]) -> None:
    make_user()
    for _ in range(3):
        ask(app.test_client(), "alice@example.com")
    assert delivered(smtp, deliver) == ["alice@example.com"] * 3


@pytest.mark.parametrize("app_config", [{"RATELIMIT_RESET_PER_CLIENT": "2 per minute"}])
def test_new_password_posts_are_limited_per_client(app: Flask, client: FlaskClient,
                                                   make_user: Callable[..., User]) -> None:
    alice = make_user()
    with app.app_context():
        token = reset.issue_link_token(db.session.get(User, alice.id))
    csrf = csrf_token(client)
    data: dict[str, Any] = {"password": NEW, "password2": NEW, "csrf_token": csrf}
    statuses = [post_new_password(client, f"{token}x", data).status_code
                for _ in range(2)]
    limited = post_new_password(client, token, data)
    assert statuses == [400, 400]
    assert limited.status_code == 429
    assert "Too many requests" in limited.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, alice.id).password_hash == alice.password_hash
    other = app.test_client()
    data["csrf_token"] = csrf_token(other)
    assert post_new_password(other, token, data, environ_base={"REMOTE_ADDR": "192.0.2.9"}).status_code == 302


@pytest.mark.parametrize("app_config", [{"ACCOUNT_EMAILS_PER_HOUR": 1}])
def test_the_changed_notice_is_sent_even_when_the_budget_is_spent(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User]) -> None:
    alice = make_user()
    ask(client, "alice@example.com")
    deliver()  # the link email takes the last of the budget when the worker builds it
    with app.app_context():
        token = reset.issue_link_token(db.session.get(User, alice.id))
    data = {"password": NEW, "password2": NEW, "csrf_token": csrf_token(client)}
    assert post_new_password(client, token, data).status_code == 302
    assert delivered(smtp, deliver) == ["alice@example.com"] * 2
    assert smtp.messages[1].message["Subject"] == "Your Mailroom password was changed"
