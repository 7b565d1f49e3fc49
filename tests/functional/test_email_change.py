"""Change of address by emailed code, through the real endpoints, CSRF header and SMTP server."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from flask_mailroom.clock import FrozenClock

from mailroom import create_app
from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import accounts, budget
from mailroom.state import state
from tests.conftest import base_config, csrf_token
from tests.support.accounts import stored_user, without_signin_notices
from tests.support.outbox import code_in, outbox, queued_code, text_of
from tests.support.services import free_port
from tests.support.smtp import Received, SMTPServer

PASSWORD = "correct horse battery"
NEW = "alice.new@example.com"
LINK = re.compile(r"https://mailroom\.test(/account/email/revert/[A-Za-z0-9_.\-]+)")


@pytest.fixture
def alice(app: Flask, make_user: Callable[..., User], login: Callable[..., Any]) -> User:
    """A confirmed account, signed in on the test client (its sign-in notice is not the subject)."""
    user = make_user()
    without_signin_notices(app)
    assert login().status_code == 302
    return user


def post_json(client: FlaskClient, path: str, body: Any, token: str | None = "page") -> Any:
    """POST JSON the way account.js does, with the page's CSRF token in X-CSRFToken."""
    headers = {"Accept": "application/json"}
    if token == "page":
        headers["X-CSRFToken"] = csrf_token(client, "/account/")
    elif token is not None:
        headers["X-CSRFToken"] = token
    return client.post(path, json=body, headers=headers)


def send_code(client: FlaskClient, email: str = NEW, password: str = PASSWORD) -> Any:
    """Press "Send code"."""
    return post_json(client, "/account/email/code", {"email": email, "password": password})


def change(client: FlaskClient, code: str, email: str | None = None) -> Any:
    """Submit the code."""
    body = {"code": code} if email is None else {"code": code, "email": email}
    return post_json(client, "/account/email", body)


# --- asking for a code ------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_missing_or_wrong_csrf_header_is_a_400_json(client: FlaskClient, app: Flask, alice: User,
                                                     token: str | None) -> None:
    response = post_json(client, "/account/email/code", {"email": NEW, "password": PASSWORD}, token)
    assert response.status_code == 400
    assert response.json["code"] == 400
    assert response.json["data"] == {"field": "csrf_token"}
    assert outbox(app) == []


def test_wrong_password_names_the_password_field(client: FlaskClient, app: Flask,
                                                 alice: User) -> None:
    response = send_code(client, password="not my password")
    assert response.status_code == 400
    assert response.json["data"]["field"] == "password"
    assert outbox(app) == []


@pytest.mark.parametrize(("address", "message"), [
    ("bob@example.com", "Another account already uses that address."),
    ("BOB@Example.com", "Another account already uses that address."),
    ("ALICE@example.com", "That is already your address."),
    ("not-an-address", "Not a valid email address"),
    ("alice@example.com\r\nBcc: x@example.com", "control characters"),
    ("a" * 250 + "@example.com", "254"),
    ("", "required"),
])
def test_bad_new_addresses_name_the_email_field(client: FlaskClient, app: Flask, alice: User,
                                                make_user: Callable[..., User], address: str,
                                                message: str) -> None:
    make_user("bob", "bob@example.com")
    response = send_code(client, email=address)
    assert response.status_code == 400
    assert response.json["data"]["field"] == "email"
    assert message in response.json["message"]
    assert outbox(app) == []


@pytest.mark.parametrize("body", [{"email": ["x@example.com"], "password": PASSWORD},
                                  {"email": NEW, "password": 12345678}])
def test_non_text_json_fields_are_named(client: FlaskClient, alice: User, body: dict[str, Any]) -> None:
    response = post_json(client, "/account/email/code", body)
    assert response.status_code == 400
    bad = next(name for name, value in body.items() if not isinstance(value, str))
    assert response.json["data"]["field"] == bad


def test_a_json_body_that_is_not_an_object_is_refused(client: FlaskClient, alice: User) -> None:
    response = post_json(client, "/account/email/code", ["x"])
    assert response.status_code == 400
    assert response.json["message"] == "Send a JSON object."


def test_send_code_replies_with_timings_and_emails_the_new_address(client: FlaskClient, app: Flask,
                                                                  alice: User) -> None:
    response = send_code(client)
    assert response.status_code == 200
    assert response.json["code"] == 200
    assert response.json["data"] == {"email": NEW, "resend_after": 60, "expires_in": 600}
    [message] = outbox(app)
    assert message.recipients == [NEW]
    assert message.template == "email_change_code"
    code = queued_code(app)
    assert code not in response.get_data(as_text=True)
    assert stored_user(app, alice.id).email == "alice@example.com"


def test_resend_is_429_with_the_wait_while_cooling_down(client: FlaskClient, app: Flask,
                                                       alice: User, clock: FrozenClock) -> None:
    assert send_code(client).status_code == 200
    clock.advance(20)
    response = send_code(client, email="other@example.com")
    assert response.status_code == 429
    assert response.json["data"]["resend_after"] == 40
    assert len(outbox(app)) == 1
    clock.advance(40)
    assert send_code(client, email="other@example.com").status_code == 200
    assert outbox(app)[-1].recipients == ["other@example.com"]


@pytest.mark.parametrize("app_config", [{"ACCOUNT_EMAILS_PER_HOUR": 2}])
def test_spent_address_budget_is_429_naming_the_reason_and_sends_nothing(
        client: FlaskClient, app: Flask, alice: User, clock: FrozenClock) -> None:
    for _ in range(2):
        assert send_code(client).status_code == 200
        clock.advance(60)
    response = send_code(client)
    assert response.status_code == 429
    assert response.json["data"]["reason"] == "budget"
    assert NEW in response.json["message"]
    assert len(outbox(app)) == 2


def test_the_password_oracle_is_rate_limited_per_user(client: FlaskClient, alice: User) -> None:
    statuses = [send_code(client, password=f"guess number {n}").status_code for n in range(21)]
    assert statuses[:20] == [400] * 20
    assert statuses[20] == 429


def test_without_javascript_the_forms_work_and_show_errors_beside_fields(
        client: FlaskClient, app: Flask, alice: User) -> None:
    token = csrf_token(client, "/account/")
    bad = client.post("/account/email/code", data={"email": "nope", "password": PASSWORD,
                                                   "csrf_token": token})
    assert (bad.status_code, bad.headers["Location"]) == (303, "/account/#change-email")
    assert 'id="email-error"' in client.get("/account/").get_data(as_text=True)
    sent = client.post("/account/email/code", data={"email": NEW, "password": PASSWORD,
                                                    "csrf_token": token}, follow_redirects=True)
    page = sent.get_data(as_text=True)
    assert f"We sent a code to {NEW}" in page
    assert f'value="{NEW}"' in page
    typo = "ZZZZZZ" if queued_code(app) != "ZZZZZZ" else "YYYYYY"
    wrong = client.post("/account/email", data={"code": typo, "email": NEW, "csrf_token": token})
    assert wrong.status_code == 303
    assert 'id="change-code-error"' in client.get("/account/").get_data(as_text=True)
    done = client.post("/account/email", data={"code": queued_code(app), "email": NEW,
                                               "csrf_token": token}, follow_redirects=True)
    assert f'<span id="account-email">{NEW}</span>' in done.get_data(as_text=True)


# --- submitting the code ----------------------------------------------------------------------------


def test_wrong_and_malformed_codes_name_the_code_field(client: FlaskClient, app: Flask,
                                                      alice: User) -> None:
    send_code(client)
    malformed = change(client, "12")
    assert malformed.status_code == 400
    assert malformed.json["data"]["field"] == "code"
    wrong = change(client, "ZZZZZZ" if queued_code(app) != "ZZZZZZ" else "YYYYYY")
    assert wrong.status_code == 400
    assert wrong.json["data"] == {"field": "code", "attempts_left": 4}
    assert stored_user(app, alice.id).email == "alice@example.com"


def test_a_code_sent_to_another_address_than_the_form_names_is_refused(
        client: FlaskClient, app: Flask, alice: User) -> None:
    send_code(client)
    response = change(client, queued_code(app), email="someone.else@example.com")
    assert response.status_code == 400
    assert response.json["data"]["field"] == "email"
    assert change(client, queued_code(app), email=NEW).status_code == 200


def test_an_address_taken_after_the_code_was_sent_is_refused(
        client: FlaskClient, app: Flask, alice: User, make_user: Callable[..., User]) -> None:
    send_code(client)
    make_user("bob", NEW)
    response = change(client, queued_code(app))
    assert response.status_code == 400
    assert response.json["data"]["field"] == "email"
    assert stored_user(app, alice.id).email == "alice@example.com"


@pytest.mark.parametrize("app_config", [{"ACCOUNT_EMAILS_PER_HOUR": 1}])
def test_no_change_when_the_old_address_cannot_be_told(client: FlaskClient, app: Flask,
                                                       alice: User) -> None:
    send_code(client)
    with app.test_request_context():
        assert budget.spend("alice@example.com")
    response = change(client, queued_code(app))
    assert response.status_code == 429
    assert response.json["data"]["reason"] == "budget"
    assert stored_user(app, alice.id).email == "alice@example.com"
    assert len(outbox(app)) == 1


def test_sessions_rotate_this_one_stays_signed_in(client: FlaskClient, app: Flask, alice: User,
                                                 login: Callable[..., Any]) -> None:
    other = app.test_client()
    token = csrf_token(other, "/auth/login")
    other.post("/auth/login", data={"identifier": "alice", "password": PASSWORD, "csrf_token": token})
    assert other.get("/account/").status_code == 200
    send_code(client)
    response = change(client, queued_code(app))
    assert response.status_code == 200
    assert response.json["data"] == {"email": NEW, "confirmed": True}
    assert other.get("/account/").status_code == 302
    assert client.get("/account/").status_code == 200
    after = stored_user(app, alice.id)
    assert after.email_confirmed


# --- the whole story through a real SMTP server, on each store ----------------------------------------


def delivered(smtp: SMTPServer, deliver: Callable[[], int], count: int) -> list[Received]:
    """Run the worker and wait until the server holds ``count`` messages."""
    deliver()
    return smtp.wait_for(count)


@pytest.mark.parametrize(
    ("store_kind", "db_backend"),
    [("redis", "sqlite"), ("database", "sqlite"), ("database", "postgresql")],
    indirect=["db_backend"], ids=["redis", "database-sqlite", "database-postgresql"],
)
def test_full_change_then_the_old_address_reverts_it_once(
        client: FlaskClient, app: Flask, make_user: Callable[..., User], login: Callable[..., Any],
        smtp: SMTPServer, deliver: Callable[[], int], store_kind: str) -> None:
    # Addresses of this run's own: on Redis the account-email budget outlives the test.
    old, new = (f"{name}-{secrets.token_hex(4)}@example.com" for name in ("alice", "alice.new"))
    alice = make_user(email=old)
    without_signin_notices(app, old)
    login()
    assert send_code(client, email=new).status_code == 200
    [code_mail] = delivered(smtp, deliver, 1)
    assert code_mail.rcpt_tos == [new]
    code = code_in(code_mail.text())
    assert code in code_mail.html()

    response = change(client, " ".join(code.lower()))
    assert response.status_code == 200
    assert f'<span id="account-email">{new}</span>' in client.get("/account/").get_data(as_text=True)
    notice = delivered(smtp, deliver, 2)[1]
    assert notice.rcpt_tos == [old]
    assert new in notice.text()
    [path] = {match.group(1) for match in LINK.finditer(notice.text() + notice.html())}

    visitor = app.test_client()
    page = visitor.get(path)
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert stored_user(app, alice.id).email == new
    token = csrf_token(visitor, path)
    reverted = visitor.post(path, data={"csrf_token": token})
    assert reverted.status_code == 302
    with app.test_request_context():
        assert reverted.location == url_for("reset.reset_password_request")
    user = stored_user(app, alice.id)
    assert user.email == old
    assert user.email_confirmed
    assert client.get("/account/").status_code == 302
    assert client.post("/auth/login", data={"identifier": "alice", "password": PASSWORD,
                                            "csrf_token": csrf_token(client, "/auth/login")}
                       ).status_code == 400

    again = visitor.post(path, data={"csrf_token": token})
    assert again.status_code == 400
    assert 'id="revert-invalid"' in again.get_data(as_text=True)
    assert stored_user(app, alice.id).password_hash == user.password_hash


# --- the revert link's refusals ----------------------------------------------------------------------


def revert_path(client: FlaskClient, app: Flask) -> str:
    """Change the address and return the path of the revert link sent to the old one."""
    send_code(client)
    assert change(client, queued_code(app)).status_code == 200
    found = LINK.search(text_of(outbox(app)[-1]))
    assert found
    return found.group(1)


def test_get_of_the_revert_link_changes_nothing(client: FlaskClient, app: Flask, alice: User) -> None:
    path = revert_path(client, app)
    for _ in range(3):
        page = client.get(path)
        assert page.status_code == 200
        assert 'id="revert-old-email"' in page.get_data(as_text=True)
    assert stored_user(app, alice.id).email == NEW
    assert client.get("/account/").status_code == 200


def test_an_expired_revert_link_says_so(client: FlaskClient, app: Flask, alice: User,
                                        clock: FrozenClock) -> None:
    path = revert_path(client, app)
    clock.advance(7 * 24 * 3600 + 1)
    response = client.get(path)
    assert response.status_code == 400
    assert 'id="revert-expired"' in response.get_data(as_text=True)
    token = csrf_token(client, "/")
    assert client.post(path, data={"csrf_token": token}).status_code == 400
    assert stored_user(app, alice.id).email == NEW


# Input refused by validation: the database cannot change the outcome, so one is enough.
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("mangle", [lambda p: p[:-2], lambda p: p + "x",
                                    lambda p: "/account/email/revert/eyJ1IjoxLCJvIjoiYUBiLmMiLCJ0IjowfQ.x"])
def test_a_tampered_revert_link_is_invalid(client: FlaskClient, app: Flask, alice: User,
                                           mangle: Callable[[str], str]) -> None:
    response = client.get(mangle(revert_path(client, app)))
    assert response.status_code == 400
    assert 'id="revert-invalid"' in response.get_data(as_text=True)


def test_revert_refused_when_the_old_address_was_taken(client: FlaskClient, app: Flask, alice: User,
                                                       make_user: Callable[..., User]) -> None:
    path = revert_path(client, app)
    make_user("mallory", "alice@example.com")
    token = csrf_token(client, "/")
    response = client.post(path, data={"csrf_token": token})
    assert response.status_code == 400
    assert 'id="revert-taken"' in response.get_data(as_text=True)
    assert stored_user(app, alice.id).email == NEW


def test_a_later_change_does_not_kill_the_first_revert_link(client: FlaskClient, app: Flask,
                                                            alice: User, clock: FrozenClock) -> None:
    first = revert_path(client, app)
    clock.advance(60)
    send_code(client, email="third@example.com")
    assert change(client, queued_code(app)).status_code == 200
    visitor = app.test_client()
    response = visitor.post(first, data={"csrf_token": csrf_token(visitor, first)})
    assert response.status_code == 302
    assert stored_user(app, alice.id).email == "alice@example.com"


# --- Redis down -------------------------------------------------------------------------------------


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_redis_unreachable_is_a_503_json_and_the_site_keeps_working(database_url: str,
                                                                    clock: FrozenClock) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    down = create_app(base_config(database_url) | {"REDIS_URL": closed,
                                                   "RATELIMIT_STORAGE_URI": closed})
    state(down).clock = clock
    client = down.test_client()
    assert client.get("/").status_code == 200
    registered = client.post("/auth/register", data={
        "username": "dave", "email": "dave@example.com", "password": PASSWORD,
        "password2": PASSWORD, "csrf_token": csrf_token(client, "/auth/register")})
    assert registered.location == "/auth/register/code"
    with down.app_context():
        db.session.add(accounts.new_user("carol", "carol@example.com", PASSWORD))
        db.session.commit()
    without_signin_notices(down, "carol@example.com")
    signed_in = client.post("/auth/login", data={"identifier": "carol", "password": PASSWORD,
                                                 "csrf_token": csrf_token(client, "/auth/login")})
    assert signed_in.status_code == 302
    page = client.get("/account/")
    assert page.status_code == 200
    assert 'id="codes-down"' in page.get_data(as_text=True)
    for path, body in (("/account/email/code", {"email": NEW, "password": PASSWORD}),
                       ("/account/email", {"code": "ABCDEF"}),
                       ("/account/confirm", {"code": "ABCDEF"}),
                       ("/account/confirm/resend", {})):
        response = post_json(client, path, body)
        assert response.status_code == 503, path
        assert response.json["code"] == 503
        assert "code store cannot be reached" in response.json["message"]
    assert outbox(down) == []
    with down.app_context():
        db.engine.dispose()


# --- the old address is kept for its owner during the revert window ------------------------------------


def register(client: FlaskClient, username: str, email: str) -> Any:
    """Post the registration form."""
    return client.post("/auth/register", data={
        "username": username, "email": email, "password": PASSWORD, "password2": PASSWORD,
        "csrf_token": csrf_token(client, "/auth/register")})


def pending_usernames(app: Flask) -> list[str]:
    """Usernames of registrations waiting for their code."""
    with app.app_context():
        users = db.session.scalars(db.select(User).order_by(User.id))
        return [u.username for u in users if u.registration_handle]


def test_the_old_address_is_reserved_during_the_revert_window(
        client: FlaskClient, app: Flask, alice: User, make_user: Callable[..., User],
        clock: FrozenClock) -> None:
    path = revert_path(client, app)
    make_user("bob", "bob@example.com")
    bob = app.test_client()
    bob.post("/auth/login", data={"identifier": "bob", "password": PASSWORD,
                                  "csrf_token": csrf_token(bob, "/auth/login")})
    taken = send_code(bob, email="Alice@Example.com")
    assert (taken.status_code, taken.json["data"]["field"]) == (400, "email")
    assert register(app.test_client(), "mallory", "alice@example.com").location == "/auth/register/code"
    assert pending_usernames(app) == []
    assert outbox(app)[-1].template == "register_taken"
    assert outbox(app)[-1].recipients == ["alice@example.com"]
    # The owner's revert still works on the last day of the window.
    clock.advance(7 * 24 * 3600 - 60)
    visitor = app.test_client()
    assert visitor.post(path, data={"csrf_token": csrf_token(visitor, path)}).status_code == 302
    assert stored_user(app, alice.id).email == "alice@example.com"


def test_the_reservation_ends_with_the_window_or_when_the_owner_releases_it(
        client: FlaskClient, app: Flask, alice: User, clock: FrozenClock) -> None:
    path = revert_path(client, app)
    visitor = app.test_client()
    released = visitor.post(path + "/keep", data={"csrf_token": csrf_token(visitor, path)})
    assert released.status_code == 302
    register(app.test_client(), "newalice", "alice@example.com")
    assert pending_usernames(app) == ["newalice"]
    clock.advance(60)
    send_code(client, email="third@example.com")
    assert change(client, queued_code(app)).status_code == 200
    assert register(app.test_client(), "mallory", "alice.new@example.com").status_code == 302
    assert pending_usernames(app) == ["newalice"]
    clock.advance(7 * 24 * 3600)
    register(app.test_client(), "mallory", "alice.new@example.com")
    assert pending_usernames(app) == ["newalice", "mallory"]
