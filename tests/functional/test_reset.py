"""Password reset by emailed link, through the real pages, the real worker and a real SMTP server."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mailroom.domain import tokens
from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import accounts, reset
from tests.conftest import csrf_token
from tests.support.accounts import without_signin_notices
from tests.support.outbox import outbox
from tests.support.reset_links import open_link, post_new_password
from tests.support.smtp import Received, SMTPServer

OLD = "correct horse battery"
NEW = "a brand new passphrase"
TTL = 600
LINK = re.compile(r"https?://[^/\s\"<>]+/auth/reset_password/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")
CSRF_VALUES = re.compile(r'((?:name="csrf-token" content|name="csrf_token" type="hidden" value)=")[^"]+')
LINK_INVALID = "This reset link is not valid"
LINK_EXPIRED = "This reset link has expired"


# --- helpers ---------------------------------------------------------------------------------


def ask_for_link(client: FlaskClient, email: str, **options: Any) -> TestResponse:
    """Post the request form as a browser would, with the session's CSRF token."""
    base = options.pop("base_url", None)
    token = csrf_token_at(client, "/auth/reset_password_request", base)
    extra = {"base_url": base} if base else {}
    return client.post("/auth/reset_password_request", data={"email": email, "csrf_token": token},
                       **extra, **options)


def csrf_token_at(client: FlaskClient, path: str, base_url: str | None = None) -> str:
    """The CSRF token from a page, on another host when asked."""
    if base_url is None:
        return csrf_token(client, path)
    page = client.get(path, base_url=base_url).get_data(as_text=True)
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert found
    return found.group(1)


def set_password(client: FlaskClient, token: str, password: str = NEW,
                 repeat: str | None = None) -> TestResponse:
    """Post the new-password form of a link."""
    csrf = csrf_token(client, "/auth/login")
    return post_new_password(client, token, {
        "password": password, "password2": password if repeat is None else repeat,
        "csrf_token": csrf})


def sign_in(client: FlaskClient, password: str, remember: bool = False) -> TestResponse:
    """Sign in as alice through the form."""
    data = {"identifier": "alice", "password": password, "csrf_token": csrf_token(client, "/auth/login")}
    if remember:
        data["remember"] = "y"
    return client.post("/auth/login", data=data)


def signed_in(client: FlaskClient) -> bool:
    """Whether the account page opens for this client."""
    return client.get("/account/").status_code == 200


def link_in(message: Received) -> str:
    """The token of the one reset link in a delivered email, the same in both parts."""
    found = {match.group(1) for match in LINK.finditer(message.text() + message.html())}
    assert len(found) == 1, found
    return found.pop()


def emailed_token(smtp: SMTPServer, deliver: Callable[[], int], client: FlaskClient,
                  email: str = "alice@example.com") -> str:
    """Ask for a link, run the worker, and read the token from the delivered email."""
    before = len(smtp.messages)
    ask_for_link(client, email)
    deliver()
    message = smtp.wait_for(before + 1)[before]
    return link_in(message)


def stored_user(app: Flask, username: str = "alice") -> User:
    """The user as stored now."""
    with app.app_context():
        user = accounts.find_by_username(username)
        assert user is not None
        db.session.expunge(user)
        return user


def comparable(body: str) -> str:
    """A page without its per-session CSRF token values."""
    return CSRF_VALUES.sub(r"\1", body)


def b64(data: dict[str, Any]) -> str:
    """One JWT segment."""
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# --- identical replies -----------------------------------------------------------------------


def test_known_and_unknown_addresses_get_identical_replies(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User]) -> None:
    make_user()
    known_client, unknown_client = app.test_client(), app.test_client()
    known = ask_for_link(known_client, "alice@example.com")
    unknown = ask_for_link(unknown_client, "nobody@example.com")
    assert (known.status_code, known.location) == (302, "/auth/reset_password/sent")
    assert (unknown.status_code, unknown.location) == (302, "/auth/reset_password/sent")
    assert known.get_data() == unknown.get_data()
    headers = {k: v for k, v in known.headers.items() if k != "Set-Cookie"}
    assert headers == {k: v for k, v in unknown.headers.items() if k != "Set-Cookie"}
    known_cookie, unknown_cookie = known.headers["Set-Cookie"], unknown.headers["Set-Cookie"]
    assert known_cookie.split("=")[0] == unknown_cookie.split("=")[0] == "session"
    assert known_cookie.split(";", 1)[1] == unknown_cookie.split(";", 1)[1]
    known_page = known_client.get("/auth/reset_password/sent").get_data(as_text=True)
    unknown_page = unknown_client.get("/auth/reset_password/sent").get_data(as_text=True)
    assert comparable(known_page.replace("alice@example.com", "@")) == comparable(
        unknown_page.replace("nobody@example.com", "@"))
    assert "If an account uses <strong>alice@example.com</strong>" in known_page
    # The replies were the same, but only the known address got mail.
    deliver()
    assert [m.rcpt_tos for m in smtp.wait_for(1)] == [["alice@example.com"]]


def test_an_unknown_address_gets_no_email(app: Flask, client: FlaskClient, smtp: SMTPServer,
                                          deliver: Callable[[], int]) -> None:
    response = ask_for_link(client, "nobody@example.com")
    assert response.status_code == 302
    # The request queues the same deferred row for every address; the worker finds no account.
    [row] = outbox(app)
    assert (row.template, row.status, row.raw) == ("reset_password", "queued", b"")
    assert deliver() == 1
    [row] = outbox(app)
    assert row.status == "skipped"
    assert smtp.messages == []


def test_the_address_is_found_in_any_letter_case(app: Flask, client: FlaskClient, smtp: SMTPServer,
                                                 deliver: Callable[[], int],
                                                 make_user: Callable[..., User]) -> None:
    make_user()
    ask_for_link(client, "  ALICE@Example.COM ")
    deliver()
    assert [m.rcpt_tos for m in smtp.wait_for(1)] == [["alice@example.com"]]
    assert [row.recipients for row in outbox(app)] == [["alice@example.com"]]


# --- the whole flow --------------------------------------------------------------------------


def test_whole_flow_through_the_worker_and_smtp(app: Flask, client: FlaskClient, smtp: SMTPServer,
                                                deliver: Callable[[], int],
                                                make_user: Callable[..., User]) -> None:
    make_user()
    response = ask_for_link(client, "alice@example.com")
    assert response.status_code == 302
    assert deliver() == 1
    [message] = smtp.wait_for(1)
    assert message.rcpt_tos == ["alice@example.com"]
    assert message.message["Subject"] == "Reset your Mailroom password"
    assert "Hello alice," in message.text()
    assert "alice" in message.html()
    assert "10 minutes" in message.text()
    links = {m.group(0) for m in LINK.finditer(message.text() + message.html())}
    assert len(links) == 1
    link = links.pop()
    assert link.startswith("https://mailroom.test/auth/reset_password/")
    landing = client.get(urlsplit(link).path)
    assert (landing.status_code, landing.location) == (302, "/auth/reset_password")
    form = client.get(landing.location)
    assert form.status_code == 200
    assert 'name="password2"' in form.get_data(as_text=True)
    done = set_password(client, link_in(message))
    assert (done.status_code, done.location) == (302, "/auth/login")
    assert "Your password has been changed" in client.get("/auth/login").get_data(as_text=True)
    assert not signed_in(client)
    assert sign_in(client, OLD).status_code == 400
    assert sign_in(client, NEW).status_code == 302
    assert signed_in(client)


def test_the_link_works_once(app: Flask, client: FlaskClient, smtp: SMTPServer,
                             deliver: Callable[[], int], make_user: Callable[..., User]) -> None:
    make_user()
    token = emailed_token(smtp, deliver, client)
    assert set_password(client, token).status_code == 302
    again = set_password(client, token, "yet another passphrase")
    assert again.status_code == 400
    assert LINK_INVALID in again.get_data(as_text=True)
    assert LINK_INVALID in open_link(client, token).get_data(as_text=True)
    assert sign_in(client, "yet another passphrase").status_code == 400
    assert sign_in(client, NEW).status_code == 302


def test_a_newer_link_used_voids_the_older_one(app: Flask, client: FlaskClient, smtp: SMTPServer,
                                               deliver: Callable[[], int],
                                               make_user: Callable[..., User], clock: Any) -> None:
    make_user()
    older = emailed_token(smtp, deliver, client)
    clock.advance(60)
    newer = emailed_token(smtp, deliver, client)
    assert older != newer
    assert set_password(client, newer).status_code == 302
    response = set_password(client, older, "the older link's try")
    assert response.status_code == 400
    assert LINK_INVALID in response.get_data(as_text=True)


def test_a_password_change_by_any_path_voids_earlier_links(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User]) -> None:
    make_user()
    token = emailed_token(smtp, deliver, client)
    with app.app_context():
        user = accounts.find_by_username("alice")
        assert user is not None
        accounts.set_password(user, "changed elsewhere 1")
        db.session.commit()
    response = open_link(client, token)
    assert response.status_code == 400
    assert LINK_INVALID in response.get_data(as_text=True)
    assert set_password(client, token).status_code == 400
    assert sign_in(client, "changed elsewhere 1").status_code == 302


def test_opening_the_link_changes_nothing(app: Flask, client: FlaskClient, smtp: SMTPServer,
                                          deliver: Callable[[], int],
                                          make_user: Callable[..., User]) -> None:
    make_user()
    token = emailed_token(smtp, deliver, client)
    before, mail_before = stored_user(app), len(outbox(app))
    for _ in range(3):
        assert open_link(client, token).status_code == 200
    after = stored_user(app)
    assert after.password_hash == before.password_hash
    assert len(outbox(app)) == mail_before
    assert set_password(client, token).status_code == 302


# --- expired and invalid links ---------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "expired"), [(TTL - 1, False), (TTL + 1, True)])
def test_links_expire_after_the_ttl(app: Flask, client: FlaskClient, smtp: SMTPServer,
                                    deliver: Callable[[], int], make_user: Callable[..., User],
                                    clock: Any, seconds: int, expired: bool) -> None:
    make_user()
    token = emailed_token(smtp, deliver, client)
    clock.advance(seconds)
    page = open_link(client, token)
    posted = set_password(client, token)
    if expired:
        for response in (page, posted):
            assert response.status_code == 400
            body = response.get_data(as_text=True)
            assert LINK_EXPIRED in body
            assert LINK_INVALID not in body
            assert 'id="request-new-link"' in body
            assert 'href="/auth/reset_password_request"' in body
        assert sign_in(client, OLD).status_code == 302
    else:
        assert page.status_code == 200
        assert posted.status_code == 302
        assert sign_in(client, NEW).status_code == 302


def _tampered(app: Flask, alice: User, bob: User) -> dict[str, str]:
    """Tokens that must all be refused, next to the genuine one."""
    secret = app.config["SECRET_KEY"].encode()
    with app.app_context():
        genuine = reset.issue_link_token(db.session.get(User, alice.id))
        state = reset.bound_state(db.session.get(User, alice.id))
    header, payload, signature = genuine.split(".")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    forged = dict(claims, sub=str(bob.id))
    moment = app.extensions["mailroom"].clock.now()
    common = {"now": moment, "ttl_seconds": TTL}
    return {
        "genuine": genuine,
        "tampered-subject": f"{header}.{b64(forged)}.{signature}",
        "tampered-signature": f"{header}.{payload}.{signature[::-1]}",
        "alg-none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "wrong-key": tokens.issue(subject=alice.id, purpose=reset.PURPOSE, state=state,
                                  secret=b"somebody else's secret key 0123456789", **common),
        "other-purpose": tokens.issue(subject=alice.id, purpose="confirm_email", state=state,
                                      secret=secret, **common),
        "other-user": tokens.issue(subject=bob.id, purpose=reset.PURPOSE, state=state,
                                   secret=secret, **common),
        "no-such-user": tokens.issue(subject=999, purpose=reset.PURPOSE, state=state,
                                     secret=secret, **common),
        "truncated": genuine[:-5],
        "garbage": "not-a-token",
    }


KINDS = ["tampered-subject", "tampered-signature", "alg-none", "wrong-key", "other-purpose",
         "other-user", "no-such-user", "truncated", "garbage"]


def test_forged_and_foreign_tokens_are_refused(app: Flask, client: FlaskClient,
                                               make_user: Callable[..., User]) -> None:
    alice, bob = make_user(), make_user("bob", "bob@example.com", "bob's own password")
    made = _tampered(app, alice, bob)
    for kind in KINDS:
        page = open_link(client, made[kind])
        posted = set_password(client, made[kind])
        for response in (page, posted):
            assert response.status_code == 400, kind
            assert LINK_INVALID in response.get_data(as_text=True), kind
            assert 'id="request-new-link"' in response.get_data(as_text=True)
    assert stored_user(app).password_hash == alice.password_hash
    assert stored_user(app, "bob").password_hash == bob.password_hash
    # The control: the genuine token of the same moment works.
    assert set_password(client, made["genuine"]).status_code == 302


def test_an_overlong_link_is_refused_not_a_500(client: FlaskClient) -> None:
    response = open_link(client, "a" * 5000)
    assert response.status_code == 400
    assert LINK_INVALID in response.get_data(as_text=True)


# --- sessions, notice, headers ---------------------------------------------------------------


def test_every_other_session_is_signed_out(app: Flask, client: FlaskClient, smtp: SMTPServer,
                                           deliver: Callable[[], int],
                                           make_user: Callable[..., User]) -> None:
    make_user()
    without_signin_notices(app)
    laptop, phone = app.test_client(), app.test_client()
    assert sign_in(laptop, OLD).status_code == 302
    assert sign_in(phone, OLD, remember=True).status_code == 302
    assert signed_in(laptop)
    # The control: without its session cookie, the phone is signed in again by remember-me.
    phone.delete_cookie("session", domain="mailroom.test")
    assert signed_in(phone)
    token = emailed_token(smtp, deliver, client)
    assert set_password(client, token).status_code == 302
    assert not signed_in(laptop)
    # The remember-me cookie is revoked too, not only the session.
    phone.delete_cookie("session", domain="mailroom.test")
    assert phone.get_cookie("remember_token", domain="mailroom.test") is not None
    assert not signed_in(phone)


def test_the_password_changed_notice(app: Flask, client: FlaskClient, smtp: SMTPServer,
                                     deliver: Callable[[], int],
                                     make_user: Callable[..., User]) -> None:
    make_user()
    token = emailed_token(smtp, deliver, client)
    set_password(client, token)
    assert deliver() == 1
    notice = smtp.wait_for(2)[1]
    assert notice.rcpt_tos == ["alice@example.com"]
    assert notice.message["Subject"] == "Your Mailroom password was changed"
    body = notice.text() + notice.html()
    assert "Hello alice," in notice.text()
    assert "Mar 2, 2026, 9:00\u202fAM (UTC)" in body
    assert "https://mailroom.test/auth/reset_password_request" in body
    assert token not in body
    assert token.split(".")[2] not in notice.data.decode()
    assert LINK.search(body) is None
    assert NEW not in body
    assert [row.template for row in outbox(app)] == ["reset_password", "password_changed"]


def test_host_header_poisoning_cannot_change_the_link(app: Flask, client: FlaskClient,
                                                      smtp: SMTPServer,
                                                      deliver: Callable[[], int],
                                                      make_user: Callable[..., User]) -> None:
    make_user()
    response = ask_for_link(client, "alice@example.com", base_url="http://evil.example",
                            headers={"X-Forwarded-Host": "evil.example",
                                     "X-Forwarded-Proto": "http"})
    assert response.status_code == 302
    deliver()
    [message] = smtp.wait_for(1)
    body = message.text() + message.html()
    assert "evil.example" not in body
    assert LINK.search(body).group(0).startswith("https://mailroom.test/")  # type: ignore[union-attr]


def test_reset_pages_carry_no_referrer_and_no_store(app: Flask, client: FlaskClient,
                                                    make_user: Callable[..., User]) -> None:
    alice = make_user()
    with app.app_context():
        token = reset.issue_link_token(db.session.get(User, alice.id))
    responses = [client.get("/auth/reset_password_request"),
                 ask_for_link(client, "alice@example.com"),
                 open_link(client, token),
                 open_link(client, "not-a-token"),
                 set_password(client, token, "short"),
                 set_password(client, token)]
    for response in responses:
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/auth/login").headers["Referrer-Policy"] == "same-origin"


def test_signed_in_users_are_sent_home_from_both_pages(app: Flask, client: FlaskClient,
                                                       make_user: Callable[..., User],
                                                       login: Callable[..., Any]) -> None:
    alice = make_user()
    without_signin_notices(app)
    with app.app_context():
        token = reset.issue_link_token(db.session.get(User, alice.id))
    login()
    for path in ("/auth/reset_password_request", f"/auth/reset_password/{token}", "/auth/reset_password"):
        response = client.get(path)
        assert (response.status_code, response.location) == (302, "/")
    csrf = csrf_token(client)
    assert client.post("/auth/reset_password_request",
                       data={"email": "alice@example.com", "csrf_token": csrf}).location == "/"
    assert post_new_password(client, token, {
        "password": NEW, "password2": NEW, "csrf_token": csrf}).location == "/"
    assert outbox(app) == []
    assert stored_user(app).password_hash == alice.password_hash


def test_the_sign_in_page_links_to_the_request_form(client: FlaskClient) -> None:
    page = client.get("/auth/login").get_data(as_text=True)
    assert 'href="/auth/reset_password_request" id="forgot-password"' in page


# --- bad input -------------------------------------------------------------------------------


# Input refused by validation: the database cannot change the outcome, so one is enough.
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("email", "message"), [
    ("", "This field is required."), ("not-an-address", "valid email"),
    ("a" * 250 + "@example.com", "254"), ("alice@example.com\r\nBcc: x@example.com", "control"),
])
def test_a_bad_address_is_named_beside_the_field(app: Flask, client: FlaskClient,
                                                 make_user: Callable[..., User], email: str,
                                                 message: str) -> None:
    make_user()
    response = ask_for_link(client, email)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert 'id="email-error"' in body
    assert message in body
    assert outbox(app) == []


# Input refused by validation: the database cannot change the outcome, so one is enough.
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("password", "repeat", "field"), [
    ("short", "short", "password"), (NEW, "something else", "password2"),
    ("p" * 1025, "p" * 1025, "password"), ("new\x00password1", "new\x00password1", "password"),
])
def test_a_bad_new_password_is_named_beside_the_field(app: Flask, client: FlaskClient,
                                                      make_user: Callable[..., User], password: str,
                                                      repeat: str, field: str) -> None:
    alice = make_user()
    with app.app_context():
        token = reset.issue_link_token(db.session.get(User, alice.id))
    response = set_password(client, token, password, repeat)
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert stored_user(app).password_hash == alice.password_hash
    assert set_password(client, token).status_code == 302


def test_posts_without_csrf_are_refused(app: Flask, client: FlaskClient,
                                        make_user: Callable[..., User]) -> None:
    alice = make_user()
    with app.app_context():
        token = reset.issue_link_token(db.session.get(User, alice.id))
    assert client.post("/auth/reset_password_request",
                       data={"email": "alice@example.com"}).status_code == 400
    assert post_new_password(client, token, {"password": NEW, "password2": NEW}).status_code == 400
    assert outbox(app) == []
    assert stored_user(app).password_hash == alice.password_hash


# --- logs ------------------------------------------------------------------------------------


def test_logs_never_hold_a_token(app: Flask, client: FlaskClient, smtp: SMTPServer,
                                 deliver: Callable[[], int], make_user: Callable[..., User],
                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    make_user()
    token = emailed_token(smtp, deliver, client)
    open_link(client, token)
    set_password(client, token, "short")
    set_password(client, token)
    set_password(client, token)
    deliver()
    open_link(client, token[:-4])
    # aiosmtpd's "mail.log" is the test's receiving mail server (the user's mailbox), which logs
    # every line it receives at DEBUG; everything else is Mailroom, its libraries and the worker.
    assert any(r.levelno == logging.DEBUG for r in caplog.records), "capture is not at DEBUG"
    ours = [r for r in caplog.records if r.name != "mail.log"]
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in ours)
    for secret in (token, token.split(".")[1], token.split(".")[2], NEW):
        assert secret not in text
