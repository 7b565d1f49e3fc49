"""The registration code page shows one state per code (pending, void, expired), offers a new code
for the same registration, answers by post/redirect/get, and tells nothing about the address."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from flask_mailroom.clock import FrozenClock
from werkzeug.test import TestResponse

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import reset
from tests.conftest import csrf_token
from tests.functional.test_registration import accounts, enter, register, seen
from tests.support.outbox import outbox, queued_code
from tests.support.reset_links import open_link

PAGE = "/auth/register/code"
NEW_CODE = "/auth/register/code/new"


def state_of(page: TestResponse) -> str:
    """The state the page says the code is in."""
    found = re.search(r'data-code-state="(\w+)"', page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)
    return found.group(1)


def ask_new_code(client: FlaskClient) -> TestResponse:
    """Press "Send a new code"."""
    return client.post(NEW_CODE, data={"csrf_token": csrf_token(client, PAGE)})


def wrong_codes(client: FlaskClient, times: int) -> None:
    """Type a wrong code ``times`` times."""
    for _ in range(times):
        assert enter(client, "ABCDEF").status_code == 303


def test_a_wrong_code_redirects_and_its_answer_is_read_once(app: Flask, client: FlaskClient) -> None:
    register(client, "newcomer", "new@example.com")
    response = enter(client, "ABCDEF")
    assert (response.status_code, response.location) == (303, PAGE)
    answer = client.get(PAGE).get_data(as_text=True)
    assert 'id="register-code-said"' in answer
    assert "4 tries left" in answer
    assert "ABCDEF" not in answer
    reloaded = client.get(PAGE).get_data(as_text=True)
    assert "4 tries left" not in reloaded
    assert state_of(client.get(PAGE)) == "pending"


def test_void_then_a_new_code_after_the_lockout_and_the_right_code_works(
        app: Flask, client: FlaskClient, clock: FrozenClock) -> None:
    register(client, "newcomer", "new@example.com")
    wrong_codes(client, 5)
    page = client.get(PAGE)
    text = page.get_data(as_text=True)
    assert state_of(page) == "void"
    assert "no longer works" in text
    assert 'id="register-code-step" disabled' in text
    assert 'id="register-code-resend"' in text
    assert "Too many wrong codes: you can ask for a new code in" in text
    assert 'data-expires="register-code-step" hidden>' in text  # no "works for" countdown
    assert ask_new_code(client).location == PAGE
    assert "Too many wrong codes" in client.get(PAGE).get_data(as_text=True)
    assert len(outbox(app)) == 1
    clock.advance(601)
    assert ask_new_code(client).location == PAGE
    after = client.get(PAGE)
    assert state_of(after) == "pending"
    assert "We emailed a new code to" in after.get_data(as_text=True)
    assert len(outbox(app)) == 2
    response = enter(client, queued_code(app))
    assert (response.status_code, response.location) == (302, "/account/")
    assert accounts(app) == [("newcomer", False)]


def test_expired_then_a_new_code_works_and_the_cooldown_holds(
        app: Flask, client: FlaskClient, clock: FrozenClock) -> None:
    register(client, "newcomer", "new@example.com")
    first = queued_code(app)
    assert "You can ask for a new code in" in client.get(PAGE).get_data(as_text=True)
    ask_new_code(client)
    assert len(outbox(app)) == 1  # within the cooldown nothing is sent
    clock.advance(601)
    page = client.get(PAGE)
    assert state_of(page) == "expired"
    assert "has expired" in page.get_data(as_text=True)
    enter(client, first)
    assert "expired" in client.get(PAGE).get_data(as_text=True)
    ask_new_code(client)
    assert state_of(client.get(PAGE)) == "pending"
    response = enter(client, queued_code(app))
    assert response.location == "/account/"


def test_void_and_expired_pages_and_new_codes_look_the_same_for_a_taken_address(
        app: Flask, clock: FrozenClock, make_user: Callable[..., User]) -> None:
    make_user()
    taken, free = app.test_client(), app.test_client()
    register(taken, "mallory", "alice@example.com")
    register(free, "newcomer", "new@example.com")
    for client in (taken, free):
        wrong_codes(client, 5)
    pages = [taken.get(PAGE), free.get(PAGE)]
    assert seen(pages[0], "alice@example.com") == seen(pages[1], "new@example.com")
    clock.advance(601)
    asked = [ask_new_code(taken), ask_new_code(free)]
    assert seen(asked[0], "alice@example.com") == seen(asked[1], "new@example.com")
    pages = [taken.get(PAGE), free.get(PAGE)]
    assert seen(pages[0], "alice@example.com") == seen(pages[1], "new@example.com")
    assert state_of(pages[0]) == "pending"
    wrong = [enter(taken, "ABCDEF"), enter(free, "ABCDEF")]
    assert seen(wrong[0], "alice@example.com") == seen(wrong[1], "new@example.com")
    pages = [taken.get(PAGE), free.get(PAGE)]
    assert seen(pages[0], "alice@example.com") == seen(pages[1], "new@example.com")


def test_get_on_every_auth_post_url_renders_or_redirects(client: FlaskClient) -> None:
    for url in ("/auth/register/code/new", "/auth/login/code/resend", "/auth/login/new-browser/resend",
                "/auth/login", "/auth/login/email", "/auth/login/code", "/auth/reset_password_request",
                "/auth/reset_password", "/auth/reset_password/sent"):
        # A page, a redirect, or the reset link's own "not valid" page: never 405, never 500.
        assert client.get(url).status_code in (200, 302, 303, 400), url


def test_signed_in_people_are_sent_from_login_and_register_to_their_account(
        app: Flask, client: FlaskClient) -> None:
    register(client, "newcomer", "new@example.com")
    enter(client, queued_code(app))
    for url in ("/auth/login", "/auth/register", PAGE, NEW_CODE):
        assert client.get(url).location == "/account/", url


def test_the_new_password_form_names_the_account_for_password_managers(
        app: Flask, client: FlaskClient, make_user: Callable[..., User]) -> None:
    alice = make_user()
    with app.app_context():
        token = reset.issue_link_token(db.session.get(User, alice.id))
    page = open_link(client, token)
    assert ('<input type="email" id="reset-username" autocomplete="username" value="alice@example.com"'
            in page.get_data(as_text=True))
