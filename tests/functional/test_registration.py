"""Registration that tells nothing: taken and free addresses get the same replies; the code starts it."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mailroom.extensions import db
from mailroom.models import User
from tests.conftest import csrf_token
from tests.support.outbox import outbox, queued_code
from tests.support.smtp import SMTPServer

PASSWORD = "correct horse battery"
CSRF = re.compile(r'(csrf-token" content|name="csrf_token" type="hidden" value)="[^"]+"')


def register(client: FlaskClient, username: str, email: str) -> TestResponse:
    """Post the registration form."""
    return client.post("/auth/register", data={
        "username": username, "email": email, "password": PASSWORD, "password2": PASSWORD,
        "csrf_token": csrf_token(client, "/auth/register")})


def enter(client: FlaskClient, code: str) -> TestResponse:
    """Type the code on the page registration leads to."""
    return client.post("/auth/register/code", data={
        "code": code, "csrf_token": csrf_token(client, "/auth/register/code")})


def seen(response: TestResponse, address: str) -> tuple[int, str | None, str]:
    """What a visitor can compare: status, redirect, and the body without the address and CSRF token."""
    body = CSRF.sub("", response.get_data(as_text=True).replace(address, "<address>"))
    return response.status_code, response.location, body


def accounts(app: Flask) -> list[tuple[str, bool]]:
    """(username, still pending) of every stored account."""
    with app.app_context():
        return [(u.username, u.registration_handle is not None)
                for u in db.session.scalars(db.select(User).order_by(User.id))]


def test_a_taken_and_a_free_address_get_identical_replies_and_the_owner_is_told(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int], make_user: Callable[..., User]) -> None:
    make_user()
    taken, free = app.test_client(), app.test_client()
    posted = [register(taken, "mallory", "alice@example.com"), register(free, "newcomer", "new@example.com")]
    assert seen(posted[0], "alice@example.com") == seen(posted[1], "new@example.com")
    assert posted[0].location == "/auth/register/code"
    pages = [taken.get("/auth/register/code"), free.get("/auth/register/code")]
    assert seen(pages[0], "alice@example.com") == seen(pages[1], "new@example.com")
    wrong = [enter(taken, "ABCDEF"), enter(free, "ABCDEF")]
    assert seen(wrong[0], "alice@example.com") == seen(wrong[1], "new@example.com")
    assert (wrong[0].status_code, wrong[0].location) == (303, "/auth/register/code")
    answers = [taken.get("/auth/register/code"), free.get("/auth/register/code")]
    assert seen(answers[0], "alice@example.com") == seen(answers[1], "new@example.com")
    assert "4 tries left" in answers[0].get_data(as_text=True)
    deliver()
    by_address = {m.rcpt_tos[0]: m for m in smtp.wait_for(2)}
    notice = by_address["alice@example.com"]
    assert notice.message["Subject"] == "Someone tried to register at Mailroom with your address"
    assert "https://mailroom.test/auth/login" in notice.text()
    assert "https://mailroom.test/auth/reset_password_request" in notice.text()
    assert "mallory" not in notice.text()
    assert by_address["new@example.com"].message["Subject"] == "Your code to finish registering at Mailroom"
    assert accounts(app) == [("alice", False), ("newcomer", True)]


def test_the_code_starts_the_account_and_signs_this_browser_in(app: Flask, client: FlaskClient) -> None:
    register(client, "newcomer", "New@Bücher.example")
    assert [m.recipients for m in outbox(app)] == [["New@xn--bcher-kva.example"]]
    response = enter(client, queued_code(app).lower())
    assert (response.status_code, response.location) == (302, "/account/")
    page = client.get("/account/").get_data(as_text=True)
    assert 'id="email-status">confirmed' in page
    assert accounts(app) == [("newcomer", False)]


def test_a_pending_registration_cannot_sign_in_and_blocks_nobody(app: Flask) -> None:
    first = app.test_client()
    register(first, "newcomer", "new@example.com")
    code = queued_code(app)
    signer = app.test_client()
    response = signer.post("/auth/login", data={"identifier": "newcomer", "password": PASSWORD,
                                                "csrf_token": csrf_token(signer, "/auth/login")})
    assert response.status_code == 400
    second = app.test_client()
    register(second, "rightful", "new@example.com")
    assert accounts(app) == [("rightful", True)]
    # The first browser's code died with its registration.
    assert enter(first, code).status_code == 303
    assert enter(second, queued_code(app)).status_code == 302


def test_usernames_stay_visibly_unique(app: Flask, client: FlaskClient,
                                       make_user: Callable[..., User]) -> None:
    make_user()
    response = register(client, "ALICE", "someone@example.com")
    assert response.status_code == 400
    assert 'id="username-error"' in response.get_data(as_text=True)
    assert outbox(app) == []


def test_the_code_page_needs_a_registration(client: FlaskClient) -> None:
    assert client.get("/auth/register/code").location == "/auth/register"

