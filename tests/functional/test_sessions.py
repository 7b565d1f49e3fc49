"""Server-side sessions through HTTP: sign-out kills copied cookies, the list, ending others, new password."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mailroom.models import User
from tests.conftest import csrf_token
from tests.support.accounts import without_signin_notices
from tests.support.outbox import outbox

PASSWORD = "correct horse battery"
NEW = "a brand new passphrase"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
DOMAIN = "mailroom.test"


def browser(app: Flask, user_agent: str, address: str = "192.0.2.10", remember: bool = False,
            password: str = PASSWORD) -> FlaskClient:
    """A client with its own User-Agent and address, signed in through the form."""
    client = app.test_client()
    client.environ_base.update({"HTTP_USER_AGENT": user_agent, "REMOTE_ADDR": address})
    data = {"identifier": "alice", "password": password, "csrf_token": csrf_token(client, "/auth/login")}
    if remember:
        data["remember"] = "y"
    assert client.post("/auth/login", data=data).status_code == 302
    return client


def copy_of(app: Flask, source: FlaskClient, *names: str) -> FlaskClient:
    """A new client holding copies of ``source``'s cookies, as a thief would."""
    thief = app.test_client()
    for name in names:
        cookie = source.get_cookie(name, domain=DOMAIN)
        assert cookie is not None, name
        thief.set_cookie(name, cookie.value, domain=DOMAIN)
    return thief


def post(client: FlaskClient, path: str, data: dict[str, str] | None = None) -> TestResponse:
    """A form post with the client's CSRF token."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, "/account/")})


def test_a_cookie_copied_before_sign_out_is_dead_after_it(app: Flask, make_user: Callable[..., User]) -> None:
    make_user()
    alice = browser(app, FIREFOX)
    thief = copy_of(app, alice, "session")
    assert thief.get("/account/").status_code == 200
    assert post(alice, "/auth/logout").status_code == 302
    assert thief.get("/account/").status_code == 302
    assert alice.get("/account/").status_code == 302


def test_remember_me_survives_the_browser_and_dies_with_sign_out(
        app: Flask, make_user: Callable[..., User]) -> None:
    make_user()
    alice = browser(app, FIREFOX, remember=True)
    reopened = copy_of(app, alice, "remember_token")
    page = reopened.get("/account/")
    assert page.status_code == 200
    assert "remembered" in page.get_data(as_text=True)
    thief = copy_of(app, alice, "remember_token")
    post(alice, "/auth/logout")
    assert thief.get("/account/").status_code == 302


def test_the_list_shows_both_browsers_and_ending_the_others_keeps_this_one(
        app: Flask, make_user: Callable[..., User]) -> None:
    make_user()
    laptop = browser(app, FIREFOX, "192.0.2.10")
    office = browser(app, CHROME, "198.51.100.7")
    page = laptop.get("/account/").get_data(as_text=True)
    assert "Firefox on Linux" in page
    assert "192.0.2.10" in page
    assert "Chrome on Windows" in page
    assert "198.51.100.7" in page
    assert page.count('class="list-group-item') == 2
    assert post(laptop, "/account/sessions/end-others").status_code == 303
    assert office.get("/account/").status_code == 302
    page = laptop.get("/account/").get_data(as_text=True)
    assert "Chrome on Windows" not in page
    assert "this browser" in page


def test_one_session_is_ended_by_its_number_and_only_by_its_owner(
        app: Flask, make_user: Callable[..., User]) -> None:
    make_user()
    make_user("bob", "bob@example.com")
    laptop = browser(app, FIREFOX)
    office = browser(app, CHROME)
    bob = app.test_client()
    bob.post("/auth/login", data={"identifier": "bob", "password": PASSWORD,
                                  "csrf_token": csrf_token(bob, "/auth/login")})
    page = laptop.get("/account/").get_data(as_text=True)
    other = page.split('data-current="no"')[0].rsplit('id="session-', 1)[1].split('"')[0]
    assert post(bob, f"/account/sessions/{other}/end").status_code == 303
    assert "That session has already ended." in bob.get("/account/").get_data(as_text=True)
    assert office.get("/account/").status_code == 200
    assert post(laptop, f"/account/sessions/{other}/end").status_code == 303
    assert office.get("/account/").status_code == 302
    assert laptop.get("/account/").status_code == 200


def test_changing_the_password_ends_the_others_and_sends_the_notice(
        app: Flask, make_user: Callable[..., User]) -> None:
    make_user()
    without_signin_notices(app)
    laptop = browser(app, FIREFOX)
    office = browser(app, CHROME)
    headers = {"X-CSRFToken": csrf_token(laptop, "/account/")}
    wrong = laptop.post("/account/password", headers=headers,
                        json={"current_password": "not it at all", "password": NEW, "password2": NEW})
    assert wrong.status_code == 400
    assert wrong.json["data"]["field"] == "current_password"
    mismatch = laptop.post("/account/password", headers=headers,
                           json={"current_password": PASSWORD, "password": NEW, "password2": NEW + "x"})
    assert (mismatch.status_code, mismatch.json["data"]["field"]) == (400, "password2")
    assert office.get("/account/").status_code == 200
    done = laptop.post("/account/password", headers=headers,
                       json={"current_password": PASSWORD, "password": NEW, "password2": NEW})
    assert done.status_code == 200
    assert office.get("/account/").status_code == 302
    assert laptop.get("/account/").status_code == 200
    assert [row.template for row in outbox(app)] == ["password_changed"]
    browser(app, CHROME, password=NEW)


def test_the_password_form_shows_errors_beside_its_fields(app: Flask, make_user: Callable[..., User]) -> None:
    make_user()
    laptop = browser(app, FIREFOX)
    response = post(laptop, "/account/password", {"current_password": "nope nope", "password": NEW,
                                                  "password2": NEW})
    assert (response.status_code, response.location) == (303, "/account/#change-password")
    assert 'id="current_password-error"' in laptop.get("/account/").get_data(as_text=True)


def test_pages_that_only_read_the_session_send_no_cookie(app: Flask, make_user: Callable[..., User]) -> None:
    visitor = app.test_client()
    first = visitor.get("/auth/login")
    assert first.headers.getlist("Set-Cookie") != []  # the form's CSRF token starts the session
    for path in ("/auth/login", "/", "/auth/login"):
        answer = visitor.get(path)
        assert (answer.status_code, answer.headers.getlist("Set-Cookie")) == (200, []), path
    make_user()
    alice = browser(app, FIREFOX)
    for address, agent in (("192.0.2.10", FIREFOX), ("198.51.100.7", FIREFOX), ("198.51.100.7", CHROME)):
        answer = alice.get("/account/", environ_base={"REMOTE_ADDR": address, "HTTP_USER_AGENT": agent})
        assert (answer.status_code, answer.headers.getlist("Set-Cookie")) == (200, []), address
