"""Confirmation of an unconfirmed account's address from the account page: code, resend, banner.

New accounts confirm their address while registering (tests/functional/test_registration.py);
accounts made before that, or by an operator, confirm it here.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_mailroom.clock import FrozenClock
from sqlalchemy import select

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import budget
from tests.conftest import csrf_token
from tests.support.accounts import without_signin_notices
from tests.support.outbox import code_in, outbox, queued_code
from tests.support.smtp import SMTPServer

PASSWORD = "correct horse battery"
BANNER = 'id="unconfirmed-banner"'


def register(client: FlaskClient, email: str = "alice@example.com") -> Any:
    """Sign up through the real form."""
    return client.post("/auth/register", data={
        "username": "alice", "email": email, "password": PASSWORD, "password2": PASSWORD,
        "csrf_token": csrf_token(client, "/auth/register")})


@pytest.fixture
def unconfirmed(app: Flask, client: FlaskClient, make_user: Callable[..., User],
                login: Callable[..., Any]) -> Callable[..., None]:
    """Sign in to an account whose address is not confirmed (without a sign-in notice), and have a
    code sent to it."""

    def make(email: str = "alice@example.com") -> None:
        make_user(email=email, confirmed=False)
        without_signin_notices(app, email)
        assert login().status_code == 302
        assert post_json(client, "/account/confirm/resend", {}).status_code == 200

    return make


def post_json(client: FlaskClient, path: str, body: dict[str, Any]) -> Any:
    """POST JSON with the page's CSRF token in X-CSRFToken."""
    return client.post(path, json=body, headers={"X-CSRFToken": csrf_token(client, "/account/")})


def confirmed(app: Flask) -> bool:
    """Whether alice's address is confirmed."""
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        return user.email_confirmed


def test_the_code_is_queued_and_shown_as_pending(client: FlaskClient, app: Flask,
                                                unconfirmed: Callable[..., None]) -> None:
    unconfirmed()
    [message] = outbox(app)
    assert message.template == "confirm_email"
    assert message.recipients == ["alice@example.com"]
    assert len(queued_code(app)) == 6
    page = client.get("/account/").get_data(as_text=True)
    assert 'id="email-status">not confirmed' in page
    assert "We emailed a code to alice@example.com" in page


def test_a_refused_registration_queues_nothing(client: FlaskClient, app: Flask,
                                               make_user: Callable[..., User]) -> None:
    make_user("alice", "bob@example.com")
    assert register(client).status_code == 400
    assert outbox(app) == []


@pytest.mark.parametrize(
    ("store_kind", "db_backend"),
    [("redis", "sqlite"), ("database", "sqlite"), ("database", "postgresql")],
    indirect=["db_backend"], ids=["redis", "database-sqlite", "database-postgresql"],
)
def test_confirm_with_the_code_from_the_delivered_email(
        client: FlaskClient, app: Flask, smtp: SMTPServer, deliver: Callable[[], int],
        unconfirmed: Callable[..., None], store_kind: str) -> None:
    # An address of this run's own: on Redis the account-email budget outlives the test.
    address = f"alice-{secrets.token_hex(4)}@example.com"
    unconfirmed(address)
    deliver()
    [mail] = smtp.wait_for(1)
    assert mail.rcpt_tos == [address]
    assert "https://mailroom.test/account/" in mail.text()
    code = code_in(mail.text())
    response = client.post("/account/confirm", data={
        "code": code.lower(), "csrf_token": csrf_token(client, "/account/")}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert 'id="email-status">confirmed' in page
    assert BANNER not in page
    assert confirmed(app)
    again = post_json(client, "/account/confirm", {"code": code})
    assert again.status_code == 400
    assert "already confirmed" in again.json["message"]


def test_wrong_and_malformed_codes_are_errors_beside_the_code_field(
        client: FlaskClient, app: Flask, unconfirmed: Callable[..., None]) -> None:
    unconfirmed()
    right = queued_code(app)
    wrong = post_json(client, "/account/confirm", {"code": "ZZZZZZ" if right != "ZZZZZZ" else "YYYYYY"})
    assert wrong.status_code == 400
    assert wrong.json["data"] == {"field": "code", "attempts_left": 4}
    token = csrf_token(client, "/account/")
    page = client.post("/account/confirm", data={"code": "0O1IL", "csrf_token": token})
    assert (page.status_code, page.location) == (303, "/account/#confirm")
    assert 'id="code-error"' in client.get("/account/").get_data(as_text=True)
    assert post_json(client, "/account/confirm", {"code": right}).status_code == 200
    assert confirmed(app)


def test_resend_follows_the_cooldown(client: FlaskClient, app: Flask, clock: FrozenClock,
                                     unconfirmed: Callable[..., None]) -> None:
    unconfirmed()
    first = queued_code(app)
    clock.advance(30)
    waiting = post_json(client, "/account/confirm/resend", {})
    assert waiting.status_code == 429
    assert waiting.json["data"]["resend_after"] == 30
    assert len(outbox(app)) == 1
    clock.advance(30)
    sent = post_json(client, "/account/confirm/resend", {})
    assert sent.status_code == 200
    assert sent.json["data"] == {"email": "alice@example.com", "resend_after": 60, "expires_in": 600}
    second = queued_code(app)
    assert len(outbox(app)) == 2
    if first != second:
        assert post_json(client, "/account/confirm", {"code": first}).status_code == 400
    assert post_json(client, "/account/confirm", {"code": second}).status_code == 200


def test_resend_by_plain_form_flashes_the_outcome(client: FlaskClient, app: Flask,
                                                  clock: FrozenClock,
                                                  unconfirmed: Callable[..., None]) -> None:
    unconfirmed()
    token = csrf_token(client, "/account/")
    refused = client.post("/account/confirm/resend", data={"csrf_token": token})
    assert (refused.status_code, refused.location) == (303, "/account/#confirm")
    assert "You can ask for a new code in" in client.get("/account/").get_data(as_text=True)
    clock.advance(60)
    sent = client.post("/account/confirm/resend", data={"csrf_token": token}, follow_redirects=True)
    assert "We sent a new code to alice@example.com" in sent.get_data(as_text=True)


@pytest.mark.parametrize("app_config", [{"ACCOUNT_EMAILS_PER_HOUR": 1}])
def test_a_spent_budget_sends_no_code(client: FlaskClient, app: Flask,
                                      make_user: Callable[..., User], login: Callable[..., Any]) -> None:
    with app.test_request_context():
        assert budget.spend("alice@example.com")
        assert budget.spend("bob@example.com")
    assert register(app.test_client()).location == "/auth/register/code"
    assert outbox(app) == []
    make_user("bob", "bob@example.com", confirmed=False)
    without_signin_notices(app, "bob@example.com")
    login("bob")
    response = post_json(client, "/account/confirm/resend", {})
    assert response.status_code == 429
    assert response.json["data"]["reason"] == "budget"
    assert outbox(app) == []


def test_unconfirmed_accounts_sign_in_and_see_the_banner(client: FlaskClient,
                                                         make_user: Callable[..., User],
                                                         login: Callable[..., Any]) -> None:
    make_user(confirmed=False)
    assert login().status_code == 302
    for path in ("/", "/account/"):
        assert BANNER in client.get(path).get_data(as_text=True)


def test_confirmed_accounts_and_visitors_see_no_banner(client: FlaskClient,
                                                       make_user: Callable[..., User],
                                                       login: Callable[..., Any]) -> None:
    assert BANNER not in client.get("/").get_data(as_text=True)
    make_user()
    login()
    page = client.get("/account/").get_data(as_text=True)
    assert BANNER not in page
    assert 'id="confirm-form"' not in page
    assert post_json(client, "/account/confirm/resend", {}).status_code == 400


def test_changing_the_address_confirms_it_and_drops_the_old_code(
        client: FlaskClient, app: Flask, clock: FrozenClock, unconfirmed: Callable[..., None]) -> None:
    unconfirmed()
    old_code = queued_code(app)
    sent = post_json(client, "/account/email/code", {"email": "alice2@example.com",
                                                     "password": PASSWORD})
    assert sent.status_code == 200
    changed = post_json(client, "/account/email", {"code": queued_code(app)})
    assert changed.status_code == 200
    assert confirmed(app)
    page = client.get("/account/").get_data(as_text=True)
    assert BANNER not in page
    assert post_json(client, "/account/confirm", {"code": old_code}).status_code == 400
