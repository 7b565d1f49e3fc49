"""Sign-in by emailed code and the new-browser check, through the real pages, their JSON twins, the
worker and a real SMTP server."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_mailroom.clock import FrozenClock
from sqlalchemy import select
from werkzeug.test import TestResponse

from mailroom.extensions import db
from mailroom.models import OutboxMessage, TrustedDevice, User
from tests.conftest import csrf_token
from tests.support.outbox import code_in
from tests.support.reset_links import open_link, post_new_password
from tests.support.smtp import SMTPServer

PASSWORD = "correct horse battery"
ALICE = "alice@example.com"
NOBODY = "nobody@example.com"
CSRF = re.compile(r'(csrf-token" content|name="csrf_token"(?: type="hidden")? value)="[^"]+"')
CODE_SUBJECT = "Your Mailroom sign-in code"
CHECK_SUBJECT = "Your Mailroom code for a new browser"
DEVICE_COOKIE = "mailroom_device"
EXPIRED = "This code has expired or was already used. Ask for a new code."


# --- helpers ---------------------------------------------------------------------------------


def ask_for_code(client: FlaskClient, email: str) -> TestResponse:
    """Post "Email me a sign-in code" as a browser would."""
    return client.post("/auth/login/email", data={
        "email": email, "csrf_token": csrf_token(client, "/auth/login/email")})


def enter_code(client: FlaskClient, code: str, remember: bool = False) -> TestResponse:
    """Type a code on the sign-in code page."""
    data = {"code": code, "csrf_token": csrf_token(client, "/auth/login")}
    if remember:
        data["remember"] = "y"
    return client.post("/auth/login/code", data=data)


def answered(client: FlaskClient, response: TestResponse, page: str = "/auth/login/code") -> str:
    """A refused or accepted form's 303 back to its page, and that page's status area's answer
    (shown once: the next view of the page has none)."""
    assert (response.status_code, response.location) == (303, page)
    shown = client.get(page).get_data(as_text=True)
    found = re.search(r'id="(?:signin-code|new-browser)-said">([^<]*)<', shown)
    assert found is not None, shown
    assert "-said" not in client.get(page).get_data(as_text=True), "an answer is shown once"
    return found.group(1)


def sign_in(client: FlaskClient, identifier: str = "alice", password: str = PASSWORD) -> TestResponse:
    """Post the password form."""
    return client.post("/auth/login", data={"identifier": identifier, "password": password,
                                            "csrf_token": csrf_token(client, "/auth/login")})


def sign_out(client: FlaskClient) -> None:
    """Press "Sign out"."""
    assert client.post("/auth/logout", data={"csrf_token": csrf_token(client)}).status_code == 302


def enter_check_code(client: FlaskClient, code: str) -> TestResponse:
    """Type the code a new browser is asked for after the right password."""
    return client.post("/auth/login/new-browser", data={
        "code": code, "csrf_token": csrf_token(client, "/auth/login")})


def codes_to(smtp: SMTPServer, deliver: Callable[[], int], address: str, subject: str) -> list[str]:
    """Run the worker; the codes of every delivered email with this subject to this address."""
    deliver()
    found = smtp.find(lambda m: m.rcpt_tos == [address] and m.message["Subject"] == subject)
    return [code_in(message.text()) for message in found]


def signed_in(client: FlaskClient) -> bool:
    """Whether the account page opens for this client."""
    return client.get("/account/").status_code == 200


def seen(response: TestResponse, address: str) -> tuple[int, str | None, str]:
    """What a visitor can compare: status, redirect, body without the address and the CSRF token."""
    body = CSRF.sub("", response.get_data(as_text=True).replace(address, "<address>"))
    return response.status_code, response.location, body


def make_admin(app: Flask, user_id: int, check: bool | None = None) -> None:
    """Give the account the admin role (and a new-browser check choice)."""
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        user.is_admin = True
        user.new_browser_check = check
        db.session.commit()


def stored(app: Flask, user_id: int) -> User:
    """The account as stored now."""
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        db.session.expunge(user)
        return user


def templates(app: Flask) -> list[str]:
    """The template of every outbox row, oldest first."""
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return [row.template or "" for row in rows]


def has_device_cookie(response: TestResponse) -> bool:
    """Whether the reply sets the device cookie."""
    return any(header.startswith(DEVICE_COOKIE + "=") for header in response.headers.getlist("Set-Cookie"))


# --- sign-in by emailed code ---------------------------------------------------------------------


def test_the_sign_in_page_offers_an_emailed_code(client: FlaskClient) -> None:
    page = client.get("/auth/login").get_data(as_text=True)
    assert 'href="/auth/login/email" id="email-me-a-code">Email me a sign-in code</a>' in page


def test_known_and_unknown_addresses_get_identical_replies_and_only_the_account_gets_mail(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int], make_user: Callable[..., User]) -> None:
    make_user()
    known, unknown = app.test_client(), app.test_client()
    asked = [ask_for_code(known, ALICE), ask_for_code(unknown, NOBODY)]
    assert seen(asked[0], ALICE) == seen(asked[1], NOBODY)
    assert (asked[0].status_code, asked[0].location) == (302, "/auth/login/code")
    headers = [{k: v for k, v in r.headers.items() if k != "Set-Cookie"} for r in asked]
    assert headers[0] == headers[1]
    pages = [known.get("/auth/login/code"), unknown.get("/auth/login/code")]
    assert seen(pages[0], ALICE) == seen(pages[1], NOBODY)
    assert "If an account that can sign in by code uses <strong>alice@example.com</strong>" in \
        pages[0].get_data(as_text=True)
    wrong = [enter_code(known, "ABCDEF"), enter_code(unknown, "ABCDEF")]
    assert seen(wrong[0], ALICE) == seen(wrong[1], NOBODY)
    assert answered(known, wrong[0]) == answered(unknown, wrong[1]) == "That code is not right: 2 tries left."
    deliver()
    assert [m.rcpt_tos for m in smtp.wait_for(1)] == [[ALICE]]
    with app.app_context():
        rows = {row.recipients[0]: row for row in db.session.scalars(select(OutboxMessage))}
    assert rows[NOBODY].status == "skipped"
    assert rows[ALICE].status == "sent"


def test_the_code_signs_this_browser_in_once_trusts_it_and_tells_the_owner(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User]) -> None:
    alice = make_user()
    ask_for_code(client, ALICE)
    [code] = codes_to(smtp, deliver, ALICE, CODE_SUBJECT)
    message = smtp.messages[0]
    assert "only in the browser that asked for it" in message.text()
    assert code in message.html()
    assert "https://mailroom.test/account/" in message.text()
    assert not signed_in(client)
    response = enter_code(client, f" {code.lower()[:3]} {code.lower()[3:]} ")
    assert (response.status_code, response.location) == (302, "/")
    assert has_device_cookie(response)
    assert signed_in(client)
    assert "new_signin" in templates(app)
    with app.app_context():
        assert [d.user_id for d in db.session.scalars(select(TrustedDevice))] == [alice.id]
    sign_out(client)
    again = enter_code(client, code)
    assert (again.status_code, again.location) == (302, "/auth/login/email")
    assert not signed_in(client)


def test_the_right_code_in_another_browser_is_refused(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int], make_user: Callable[..., User]) -> None:
    make_user()
    asker, other = app.test_client(), app.test_client()
    ask_for_code(asker, ALICE)
    [code] = codes_to(smtp, deliver, ALICE, CODE_SUBJECT)
    ask_for_code(other, ALICE)
    assert answered(other, enter_code(other, code)) == "That code is not right: 2 tries left."
    assert not signed_in(other)
    assert enter_code(asker, code).status_code == 302
    assert signed_in(asker)


def test_a_code_expires_and_three_wrong_tries_void_it(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int], clock: FrozenClock,
        make_user: Callable[..., User]) -> None:
    make_user()
    ask_for_code(client, ALICE)
    [code] = codes_to(smtp, deliver, ALICE, CODE_SUBJECT)
    clock.advance(301)
    assert answered(client, enter_code(client, code)) == EXPIRED
    clock.advance(60)
    ask_for_code(client, ALICE)
    [code] = set(codes_to(smtp, deliver, ALICE, CODE_SUBJECT)) - {code}
    for left in ("2 tries left", "1 try left"):
        assert left in answered(client, enter_code(client, "ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY"))
    assert "no longer works" in answered(client, enter_code(client, "YYYYYZ"))
    assert "no longer works" in answered(client, enter_code(client, code))
    assert not signed_in(client)


def test_a_new_code_waits_for_the_cooldown_and_voids_the_earlier_one(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int], clock: FrozenClock,
        make_user: Callable[..., User]) -> None:
    make_user()
    ask_for_code(client, ALICE)
    [first] = codes_to(smtp, deliver, ALICE, CODE_SUBJECT)
    page = client.get("/auth/login/code").get_data(as_text=True)
    assert 'id="signin-code-resend-wait" role="timer" data-wait-seconds="60"' in page
    assert 'id="signin-code-expiry" role="timer" data-wait-seconds="300"' in page
    token = csrf_token(client, "/auth/login")
    early = client.post("/auth/login/code/resend", data={"csrf_token": token})
    assert answered(client, early) == "You can ask for a new code in 1 min."
    clock.advance(60)
    again = client.post("/auth/login/code/resend", data={"csrf_token": token})
    assert answered(client, again) == (f"If an account that can sign in by code uses {ALICE}, a new code "
                                       "is on its way; the earlier one no longer works.")
    [second] = set(codes_to(smtp, deliver, ALICE, CODE_SUBJECT)) - {first}
    assert "That code is not right" in answered(client, enter_code(client, first))
    assert enter_code(client, second).status_code == 302


@pytest.mark.parametrize("change", [{"signin_codes": False}, {"email_confirmed": False}])
def test_no_code_for_an_account_that_turned_codes_off_or_is_unconfirmed(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User], change: dict[str, bool]) -> None:
    alice = make_user()
    with app.app_context():
        user = db.session.get(User, alice.id)
        for name, value in change.items():
            setattr(user, name, value)
        db.session.commit()
    assert ask_for_code(client, ALICE).location == "/auth/login/code"
    assert codes_to(smtp, deliver, ALICE, CODE_SUBJECT) == []
    assert smtp.messages == []


def test_requests_are_limited_per_address_without_a_word(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int], make_user: Callable[..., User]) -> None:
    make_user()
    replies = [ask_for_code(app.test_client(), ALICE) for _ in range(6)]
    assert {(r.status_code, r.location) for r in replies} == {(302, "/auth/login/code")}
    assert len(codes_to(smtp, deliver, ALICE, CODE_SUBJECT)) == 5


def test_the_code_page_without_a_request_sends_to_the_request_form(client: FlaskClient) -> None:
    response = client.get("/auth/login/code")
    assert (response.status_code, response.location) == (302, "/auth/login/email")


def test_bad_addresses_are_named_beside_the_field(client: FlaskClient, app: Flask) -> None:
    for address in ("", "not-an-address", "a@b.c\r\nBcc: x@example.com"):
        response = ask_for_code(client, address)
        assert response.status_code == 400
        assert 'id="email-error"' in response.get_data(as_text=True)
    assert templates(app) == []


def test_posts_without_csrf_are_refused(client: FlaskClient, app: Flask) -> None:
    assert client.post("/auth/login/email", data={"email": ALICE}).status_code == 400
    assert client.post("/auth/login/email", json={"email": ALICE}).status_code == 400
    assert templates(app) == []


def test_logs_never_hold_the_code_or_the_handle(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User], caplog: pytest.LogCaptureFixture) -> None:
    make_user()
    caplog.set_level(logging.DEBUG)
    ask_for_code(client, ALICE)
    [code] = codes_to(smtp, deliver, ALICE, CODE_SUBJECT)
    with client.session_transaction() as session:
        handle = session["signin_code"]["handle"]
    enter_code(client, code)
    with client.session_transaction() as session:
        assert "signin_code" not in session
    assert handle not in caplog.text
    # aiosmtpd's "mail.log" is the test's receiving server (the user's mailbox): it logs every line.
    ours = [r for r in caplog.records if r.name != "mail.log"]
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in ours)
    assert code not in text
    with app.app_context():
        rows = list(db.session.scalars(select(OutboxMessage)))
    assert all(code not in str(row.meta) and handle not in str(row.meta) for row in rows)


# --- the JSON twins -------------------------------------------------------------------------------


def post_json(client: FlaskClient, path: str, body: Any) -> TestResponse:
    """POST a JSON body with the CSRF token in X-CSRFToken, as the site's scripts do."""
    return client.post(path, json=body, headers={"X-CSRFToken": csrf_token(client)})


def test_the_whole_flow_over_json(app: Flask, client: FlaskClient, smtp: SMTPServer,
                                  deliver: Callable[[], int], make_user: Callable[..., User]) -> None:
    make_user()
    other = app.test_client()
    asked = [post_json(client, "/auth/login/email", {"email": ALICE}),
             post_json(other, "/auth/login/email", {"email": NOBODY})]
    assert [r.status_code for r in asked] == [202, 202]
    bodies = [r.get_json() for r in asked]
    assert bodies[0]["data"] == {"next": "/auth/login/code", "email": ALICE, "expires_in": 300,
                                 "resend_after": 60}
    assert bodies[0]["message"].replace(ALICE, "") == bodies[1]["message"].replace(NOBODY, "")
    [code] = codes_to(smtp, deliver, ALICE, CODE_SUBJECT)
    wrong = post_json(client, "/auth/login/code", {"code": "ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY"})
    assert wrong.status_code == 400
    assert wrong.get_json()["data"] == {"field": "code", "attempts_left": 2}
    done = post_json(client, "/auth/login/code", {"code": code})
    assert done.status_code == 200
    assert done.get_json() == {"code": 200, "message": "Signed in.", "data": {"next": "/"}}
    assert has_device_cookie(done)
    assert signed_in(client)


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("path", "body", "field"), [
    ("/auth/login/email", ["alice@example.com"], None), ("/auth/login/email", "alice", None),
    ("/auth/login/email", {"email": 5}, "email"), ("/auth/login/email", {"email": None}, "email"),
    ("/auth/login/email", {}, "email"), ("/auth/login/code", {"code": ["ABCDEF"]}, "code"),
    ("/auth/login/code", {"code": ""}, "code"), ("/auth/login/code", [1], None),
])
def test_bad_json_bodies_get_a_400_naming_the_field(
        client: FlaskClient, path: str, body: Any, field: str | None) -> None:
    if path == "/auth/login/code":
        post_json(client, "/auth/login/email", {"email": ALICE})
    response = post_json(client, path, body)
    assert response.status_code == 400
    reply = response.get_json()
    assert reply["code"] == 400
    assert reply["message"]
    if field is not None:
        assert reply["data"]["field"] == field


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_malformed_json_is_a_400_not_a_500(client: FlaskClient) -> None:
    token = csrf_token(client, "/auth/login")
    response = client.post("/auth/login/email", data=b'{"email": ', content_type="application/json",
                           headers={"X-CSRFToken": token})
    assert response.status_code == 400
    assert response.get_json()["code"] == 400


# --- the new-browser check ----------------------------------------------------------------------


def test_an_admin_in_a_new_browser_types_an_emailed_code_then_the_browser_is_trusted(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User]) -> None:
    alice = make_user()
    make_admin(app, alice.id)
    response = sign_in(client)
    assert (response.status_code, response.location) == (302, "/auth/login/new-browser")
    assert not has_device_cookie(response)
    assert not signed_in(client)
    page = client.get("/auth/login/new-browser").get_data(as_text=True)
    assert "this browser has not signed in to your account before" in page
    [code] = codes_to(smtp, deliver, ALICE, CHECK_SUBJECT)
    text = smtp.messages[0].text()
    assert "Browser: unknown browser" in text
    assert "https://mailroom.test/auth/reset_password_request" in text
    wrong = enter_check_code(client, "ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY")
    assert answered(client, wrong, "/auth/login/new-browser") == "That code is not right: 2 tries left."
    done = enter_check_code(client, code)
    assert (done.status_code, done.location) == (302, "/")
    assert has_device_cookie(done)
    assert signed_in(client)
    assert "new_signin" in templates(app)
    sign_out(client)
    again = sign_in(client)
    assert (again.status_code, again.location) == (302, "/"), "a trusted browser goes straight in"
    assert codes_to(smtp, deliver, ALICE, CHECK_SUBJECT) == [code]
    stranger = app.test_client()
    assert sign_in(stranger).location == "/auth/login/new-browser"


def test_a_wrong_password_gets_no_code(app: Flask, client: FlaskClient, smtp: SMTPServer,
                                       deliver: Callable[[], int], make_user: Callable[..., User]) -> None:
    alice = make_user()
    make_admin(app, alice.id)
    response = sign_in(client, password="not the password")
    assert response.status_code == 400
    assert "Invalid username, email or password." in response.get_data(as_text=True)
    assert codes_to(smtp, deliver, ALICE, CHECK_SUBJECT) == []


def test_members_go_straight_in_unless_they_turn_the_check_on(
        app: Flask, client: FlaskClient, make_user: Callable[..., User]) -> None:
    make_user()
    assert sign_in(client).location == "/"
    page = client.get("/account/").get_data(as_text=True)
    assert re.search(r'id="new-browser-check"\s+aria-describedby="new-browser-check-hint">', page)
    token = csrf_token(client, "/account/")
    saved = client.post("/account/signin", data={"signin_codes": "1", "new_browser_check": "1",
                                                 "csrf_token": token})
    assert (saved.status_code, saved.location) == (303, "/account/#signin")
    card = client.get("/account/").get_data(as_text=True)
    assert 'id="signin-message">Your sign-in settings are saved.<' in card
    assert sign_in(app.test_client()).location == "/auth/login/new-browser"


def test_the_settings_card_shows_and_saves_the_effective_values(
        app: Flask, client: FlaskClient, make_user: Callable[..., User]) -> None:
    alice = make_user()
    make_admin(app, alice.id, check=False)
    sign_in(client)
    make_admin(app, alice.id, check=None)
    page = client.get("/account/").get_data(as_text=True)
    assert re.search(r'id="new-browser-check"\s+aria-describedby="new-browser-check-hint" checked>', page)
    assert re.search(r'id="signin-codes"\s+aria-describedby="signin-codes-hint" checked>', page)
    saved = post_json(client, "/account/signin", {"signin_codes": "false", "new_browser_check": "true"})
    assert saved.get_json()["data"] == {"signin_codes": False, "new_browser_check": True}
    assert (stored(app, alice.id).signin_codes, stored(app, alice.id).new_browser_check) == (False, None)
    saved = post_json(client, "/account/signin", {"signin_codes": "1"})
    assert saved.get_json()["data"] == {"signin_codes": True, "new_browser_check": False}
    assert stored(app, alice.id).new_browser_check is False
    assert post_json(client, "/account/signin", {"signin_codes": 1}).status_code == 400


def test_the_check_over_json(app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
                             make_user: Callable[..., User]) -> None:
    alice = make_user()
    make_admin(app, alice.id)
    asked = post_json(client, "/auth/login", {"identifier": "alice", "password": PASSWORD})
    assert asked.status_code == 202
    assert asked.get_json()["data"] == {"next": "/auth/login/new-browser", "email": ALICE,
                                        "reason": "new_browser", "expires_in": 300, "resend_after": 60}
    [code] = codes_to(smtp, deliver, ALICE, CHECK_SUBJECT)
    assert post_json(client, "/auth/login/new-browser", {"code": 7}).get_json()["data"]["field"] == "code"
    done = post_json(client, "/auth/login/new-browser", {"code": code})
    assert done.get_json() == {"code": 200, "message": "Signed in.", "data": {"next": "/"}}


def test_the_check_follows_a_local_next_and_resends_after_the_cooldown(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int], clock: FrozenClock,
        make_user: Callable[..., User]) -> None:
    alice = make_user()
    make_admin(app, alice.id)
    token = csrf_token(client, "/auth/login")
    client.post("/auth/login?next=/account/", data={"identifier": "alice", "password": PASSWORD,
                                                    "next": "/account/", "csrf_token": token})
    [first] = codes_to(smtp, deliver, ALICE, CHECK_SUBJECT)
    page = "/auth/login/new-browser"
    early = client.post("/auth/login/new-browser/resend", data={"csrf_token": token})
    assert answered(client, early, page) == "You can ask for a new code in 1 min."
    clock.advance(60)
    again = client.post("/auth/login/new-browser/resend", data={"csrf_token": token})
    new_code = f"We emailed a new code to {ALICE}; the earlier one no longer works."
    assert answered(client, again, page) == new_code
    [second] = set(codes_to(smtp, deliver, ALICE, CHECK_SUBJECT)) - {first}
    assert "That code is not right" in answered(client, enter_check_code(client, first), page)
    done = enter_check_code(client, second)
    assert (done.status_code, done.location) == (302, "/account/")


def test_a_password_change_voids_a_pending_check(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int], clock: FrozenClock,
        make_user: Callable[..., User]) -> None:
    alice = make_user()
    make_admin(app, alice.id)
    sign_in(client)
    [code] = codes_to(smtp, deliver, ALICE, CHECK_SUBJECT)
    clock.advance(5)
    with app.app_context():
        from mailroom.services import accounts

        user = db.session.get(User, alice.id)
        assert user is not None
        accounts.set_password(user, "an entirely new passphrase")
        db.session.commit()
    refused = enter_check_code(client, code)
    assert answered(client, refused, "/auth/login/new-browser") == EXPIRED
    assert not signed_in(client)


def test_a_reset_trusts_the_browser_that_made_it(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User]) -> None:
    alice = make_user()
    make_admin(app, alice.id)
    client.post("/auth/reset_password_request", data={
        "email": ALICE, "csrf_token": csrf_token(client, "/auth/reset_password_request")})
    deliver()
    [message] = smtp.wait_for(1)
    token = re.search(r"/auth/reset_password/([\w.-]+)", message.text())
    assert token is not None
    open_link(client, token.group(1))
    done = post_new_password(client, token.group(1), {
        "password": "a brand new passphrase", "password2": "a brand new passphrase",
        "csrf_token": csrf_token(client, "/auth/login")})
    assert done.status_code == 302
    assert has_device_cookie(done)
    response = sign_in(client, password="a brand new passphrase")
    assert (response.status_code, response.location) == (302, "/")


def test_code_pages_answer_with_a_303_and_a_get_of_every_post_address_is_a_page(
        app: Flask, client: FlaskClient, make_user: Callable[..., User]) -> None:
    alice = make_user()
    ask_for_code(client, ALICE)
    token = csrf_token(client, "/auth/login")
    empty = client.post("/auth/login/code", data={"code": "", "csrf_token": token})
    assert answered(client, empty) == "Enter the code from the email."
    with client.session_transaction() as session:
        assert "ABCDEF" not in repr(dict(session))
    enter_code(client, "ABCDEF")
    with client.session_transaction() as session:
        assert "ABCDEF" not in repr(dict(session)), "the answer is kept, never the code"
    resend = client.get("/auth/login/code/resend")
    assert (resend.status_code, resend.location) == (303, "/auth/login/code")
    assert "That code is not right" in client.get("/auth/login/code").get_data(as_text=True)
    make_admin(app, alice.id)
    checked = app.test_client()
    sign_in(checked)
    for path in ("/auth/login/new-browser", "/auth/login/new-browser/resend"):
        shown = checked.get(path, follow_redirects=True)
        assert shown.status_code == 200
        assert 'id="new-browser-form"' in shown.get_data(as_text=True)
    token = csrf_token(checked, "/")
    refused = checked.post("/auth/login/new-browser", data={"code": "", "csrf_token": token})
    assert answered(checked, refused, "/auth/login/new-browser") == "Enter the code from the email."
