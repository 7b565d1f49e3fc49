"""Trusted browsers through HTTP: the device cookie, what voids it, the account page's card, and the
notice of a sign-in from a new browser (delivered through the real SMTP server)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from mailroom.extensions import db
from mailroom.models import TrustedDevice, User
from mailroom.services import budget, reset
from tests.conftest import csrf_token
from tests.support.languages import TRADITIONAL_ONLY, add_speaker, script_of
from tests.support.outbox import outbox, queued_code
from tests.support.smtp import SMTPServer

PASSWORD = "correct horse battery"
NEW = "a brand new passphrase"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
DOMAIN = "mailroom.test"
COOKIE = "mailroom_device"
TOKEN = re.compile(r"([0-9]+)\.([A-Za-z0-9_-]{43})")
NOTICE = "new_signin"


def browser(app: Flask, user_agent: str = FIREFOX, address: str = "192.0.2.10") -> FlaskClient:
    """A client with its own User-Agent and address."""
    client = app.test_client()
    client.environ_base.update({"HTTP_USER_AGENT": user_agent, "REMOTE_ADDR": address})
    return client


def sign_in(client: FlaskClient, identifier: str = "alice", password: str = PASSWORD) -> TestResponse:
    """Sign in through the form."""
    return client.post("/auth/login", data={"identifier": identifier, "password": password,
                                            "csrf_token": csrf_token(client, "/auth/login")})


def signed_in(app: Flask, user_agent: str = FIREFOX, address: str = "192.0.2.10",
              identifier: str = "alice") -> FlaskClient:
    """A new browser, signed in."""
    client = browser(app, user_agent, address)
    assert sign_in(client, identifier).status_code == 302
    return client


def post(client: FlaskClient, path: str, data: dict[str, str] | None = None) -> TestResponse:
    """A form post with the client's CSRF token."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, "/account/")})


def post_json(client: FlaskClient, path: str, body: object = None) -> TestResponse:
    """A JSON post with the page's CSRF token in X-CSRFToken."""
    return client.post(path, json={} if body is None else body,
                       headers={"X-CSRFToken": csrf_token(client, "/account/")})


def tokens(client: FlaskClient) -> list[tuple[int, str]]:
    """The (row id, secret) pairs of the client's device cookie."""
    cookie = client.get_cookie(COOKIE, domain=DOMAIN)
    if cookie is None:
        return []
    return [(int(found[1]), found[2]) for found in map(TOKEN.fullmatch, cookie.value.split("~")) if found]


def rows(app: Flask, user_id: int | None = None) -> list[TrustedDevice]:
    """The trusted devices stored now (one account's, or all)."""
    with app.app_context():
        query = select(TrustedDevice).order_by(TrustedDevice.id)
        if user_id is not None:
            query = query.where(TrustedDevice.user_id == user_id)
        found = list(db.session.scalars(query))
        db.session.expunge_all()
        return found


def notices(app: Flask) -> int:
    """How many new-sign-in notices were queued."""
    return sum(1 for row in outbox(app) if row.template == NOTICE)


# --- the cookie ----------------------------------------------------------------------------------


def test_a_sign_in_sets_a_year_long_http_only_cookie_holding_only_a_hash_in_the_table(
        app: Flask, make_user: Callable[..., User]) -> None:
    alice = make_user()
    client = browser(app)
    response = sign_in(client)
    assert response.status_code == 302
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE + "="))
    for flag in ("HttpOnly", "Secure", "SameSite=Lax", "Max-Age=31536000", "Path=/"):
        assert flag in header
    [(number, secret)] = tokens(client)
    [row] = rows(app, alice.id)
    assert row.id == number
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in row.token_hash
    assert (row.user_agent, row.client_address) == (FIREFOX, "192.0.2.10")


def test_signing_in_again_keeps_one_row_and_one_token(app: Flask, make_user: Callable[..., User]) -> None:
    alice = make_user()
    client = signed_in(app)
    first = tokens(client)
    post(client, "/auth/logout")
    assert sign_in(client, "alice@example.com").status_code == 302
    assert tokens(client) == first
    assert len(rows(app, alice.id)) == 1


def test_a_browser_holds_tokens_for_five_accounts_and_drops_the_oldest(
        app: Flask, make_user: Callable[..., User]) -> None:
    names = [f"user{n}" for n in range(6)]
    ids = [make_user(name, f"{name}@example.com").id for name in names]
    client = browser(app)
    for name in names:
        assert sign_in(client, name).status_code == 302
        post(client, "/auth/logout")
    held = tokens(client)
    assert len(held) == 5
    stored = rows(app)
    assert [row.id for row in stored] == [number for number, _ in held], "the oldest row is forgotten"
    assert [row.user_id for row in stored] == ids[1:]


def test_a_tampered_or_foreign_cookie_is_a_stranger(app: Flask, make_user: Callable[..., User]) -> None:
    make_user()
    make_user("bob", "bob@example.com")
    alice = signed_in(app)
    [(number, secret)] = tokens(alice)
    post(alice, "/auth/logout")
    forged = browser(app)
    forged.set_cookie(COOKIE, f"{number}.{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}", domain=DOMAIN)
    assert sign_in(forged).status_code == 302
    [(new_row, _)] = tokens(forged)
    assert new_row != number, "not trusted: a row of its own"
    foreign = browser(app)
    foreign.set_cookie(COOKIE, f"{number}.{secret}", domain=DOMAIN)
    assert sign_in(foreign, "bob").status_code == 302
    assert next(n for n, _ in tokens(foreign)) == number, "alice's token is kept, bob's added"
    assert len(tokens(foreign)) == 2
    garbage = browser(app)
    garbage.set_cookie(COOKIE, "x" * 2000, domain=DOMAIN)
    assert sign_in(garbage).status_code == 302


def test_the_browser_that_registered_is_trusted(app: Flask) -> None:
    client = browser(app)
    client.post("/auth/register", data={
        "username": "dana", "email": "dana@example.com", "password": PASSWORD, "password2": PASSWORD,
        "csrf_token": csrf_token(client, "/auth/register")})
    finished = client.post("/auth/register/code", data={
        "code": queued_code(app), "csrf_token": csrf_token(client, "/auth/register/code")})
    assert finished.location == "/account/"
    assert "Welcome!" in client.get("/account/").get_data(as_text=True)
    assert len(tokens(client)) == 1
    post(client, "/auth/logout")
    assert sign_in(client, "dana").status_code == 302
    assert notices(app) == 0, "signing in again on it is not news"


# --- what voids every trusted browser --------------------------------------------------------------


def test_a_password_change_forgets_every_browser(app: Flask, make_user: Callable[..., User]) -> None:
    alice = make_user()
    laptop = signed_in(app)
    signed_in(app, CHROME, "198.51.100.7")
    assert len(rows(app, alice.id)) == 2
    changed = laptop.post("/account/password", headers={"X-CSRFToken": csrf_token(laptop, "/account/")},
                          json={"current_password": PASSWORD, "password": NEW, "password2": NEW})
    assert changed.status_code == 200
    assert rows(app, alice.id) == []
    post(laptop, "/auth/logout")
    before = notices(app)
    assert sign_in(laptop, password=NEW).status_code == 302
    assert notices(app) == before + 1, "the old cookie no longer makes the browser known"


def test_a_reset_forgets_every_browser(app: Flask, make_user: Callable[..., User]) -> None:
    alice = make_user()
    signed_in(app)
    with app.app_context():
        token = reset.issue_link_token(db.session.get(User, alice.id))
        reset.reset_password(token, NEW, "192.0.2.99")
    assert rows(app, alice.id) == []


def test_signing_out_everywhere_else_forgets_every_browser(app: Flask,
                                                           make_user: Callable[..., User]) -> None:
    alice = make_user()
    bob = make_user("bob", "bob@example.com")
    laptop = signed_in(app)
    signed_in(app, CHROME, "198.51.100.7")
    signed_in(app, identifier="bob")
    assert post(laptop, "/account/sessions/end-others").status_code == 303
    assert rows(app, alice.id) == []
    assert len(rows(app, bob.id)) == 1, "another account's browsers are not touched"


# --- the account page's card -------------------------------------------------------------------------


def test_the_card_lists_each_browser_in_the_owners_zone_and_marks_this_one(
        app: Flask, make_user: Callable[..., User]) -> None:
    add_speaker(app, "alice", "alice@example.com", "en", "Asia/Taipei")
    laptop = signed_in(app)
    signed_in(app, CHROME, "198.51.100.7")
    page = laptop.get("/account/").get_data(as_text=True)
    card = page[page.index('id="browsers"'):page.index('id="preferences"')]
    assert card.count('class="browser-row') == 2
    assert "Firefox on Linux" in card
    assert "Chrome on Windows" in card
    assert "192.0.2.10" in card
    assert "198.51.100.7" in card
    assert "GMT+8" in card
    [current] = re.findall(r'id="browser-(\d+)" data-current="yes"', card)
    assert int(current) == tokens(laptop)[0][0]
    assert 'id="forget-all-browsers"' in card


def test_forgetting_one_browser_and_then_all(app: Flask, make_user: Callable[..., User]) -> None:
    alice = make_user()
    laptop = signed_in(app)
    office = signed_in(app, CHROME, "198.51.100.7")
    [(office_row, _)] = tokens(office)
    forgotten = post(laptop, f"/account/browsers/{office_row}/forget")
    assert forgotten.status_code == 303
    assert "That browser is forgotten" in laptop.get(forgotten.location).get_data(as_text=True)
    assert [row.id for row in rows(app, alice.id)] == [tokens(laptop)[0][0]]
    again = post_json(laptop, f"/account/browsers/{office_row}/forget")
    assert again.status_code == 404
    assert again.json["data"] == {"field": "browser"}
    everything = post_json(laptop, "/account/browsers/forget-all")
    assert (everything.status_code, everything.json["data"]) == (200, {"forgotten": 1})
    assert rows(app, alice.id) == []
    assert 'id="no-browsers"' in laptop.get("/account/").get_data(as_text=True)


def test_another_accounts_browser_cannot_be_forgotten(app: Flask, make_user: Callable[..., User]) -> None:
    make_user()
    bob = make_user("bob", "bob@example.com")
    laptop = signed_in(app)
    bobs = signed_in(app, identifier="bob")
    [(number, _)] = tokens(bobs)
    refused = post_json(laptop, f"/account/browsers/{number}/forget")
    assert refused.status_code == 404
    assert len(rows(app, bob.id)) == 1


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_bad_requests_are_400_and_change_nothing(app: Flask, make_user: Callable[..., User]) -> None:
    alice = make_user()
    laptop = signed_in(app)
    [(number, _)] = tokens(laptop)
    path = f"/account/browsers/{number}/forget"
    assert laptop.post(path).status_code == 400, "no CSRF token"
    assert laptop.post(path, json={}, headers={"X-CSRFToken": "forged"}).status_code == 400
    assert post_json(laptop, path, [1, 2]).status_code == 400
    odd = post_json(laptop, "/account/browsers/forget-all", {"all": 1})
    assert (odd.status_code, odd.json["data"]) == (400, {"field": "all"})
    assert laptop.post(path, data="{", content_type="application/json",
                       headers={"X-CSRFToken": csrf_token(laptop, "/account/")}).status_code == 400
    assert len(rows(app, alice.id)) == 1


# --- the notice of a new browser ---------------------------------------------------------------------


def test_the_notice_reaches_a_traditional_chinese_reader_and_never_for_the_known_browser(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    add_speaker(app, "陳大文", "tai@example.com", "zh_Hant", "Asia/Taipei")
    laptop = browser(app, FIREFOX, "203.0.113.9")
    assert sign_in(laptop, "tai@example.com").status_code == 302
    assert deliver() == 1
    [message] = smtp.wait_for(1)
    assert message.rcpt_tos == ["tai@example.com"]
    assert message.message["Subject"] == "您的 Mailroom 帳號有新的登入"
    text, html = message.text(), message.html()
    assert script_of(text) == "zh_Hant"
    assert script_of(html) == "zh_Hant"
    assert any(char in text for char in TRADITIONAL_ONLY)
    for shown in ("Firefox", "Linux", "203.0.113.9", "GMT+8", "下午5:00",
                  "https://mailroom.test/account/#sessions", "https://mailroom.test/auth/reset_password_request"):
        assert shown in text, shown
    assert '<html lang="zh-Hant">' in html
    assert 'href="https://mailroom.test/account/#sessions"' in html
    assert PASSWORD not in text + html

    post(laptop, "/auth/logout")
    assert sign_in(laptop, "陳大文").status_code == 302
    assert deliver() == 0, "no notice for the browser the owner already uses"
    assert sign_in(browser(app, CHROME, "198.51.100.3"), "tai@example.com").status_code == 302
    assert deliver() == 1
    assert "Windows" in smtp.wait_for(2)[1].text()


def test_the_preference_turns_the_notices_off_and_on(app: Flask, make_user: Callable[..., User]) -> None:
    make_user()
    laptop = signed_in(app)
    assert notices(app) == 1
    page = laptop.get("/account/").get_data(as_text=True)
    assert 'id="signin-notices"' in page
    assert "checked" in page[page.index('id="signin-notices"'):][:200]
    saved = post(laptop, "/account/preferences", {"announcements": "1", "signin_notices": "0"})
    assert "We will no longer email you" in laptop.get(saved.location).get_data(as_text=True)
    signed_in(app, CHROME)
    assert notices(app) == 1
    # A form without the box (an older page) leaves the setting as it is.
    post(laptop, "/account/preferences", {"announcements": "1"})
    signed_in(app, CHROME)
    assert notices(app) == 1
    post(laptop, "/account/preferences", {"signin_notices": "1"})
    signed_in(app, CHROME)
    assert notices(app) == 2


@pytest.mark.parametrize("app_config", [{"ACCOUNT_EMAILS_PER_HOUR": 1}])
def test_a_spent_budget_withholds_the_notice(app: Flask, smtp: SMTPServer, deliver: Callable[[], int],
                                             make_user: Callable[..., User]) -> None:
    make_user()
    with app.test_request_context():
        assert budget.spend("alice@example.com")
    signed_in(app)
    deliver()
    assert smtp.messages == []
    [row] = outbox(app)
    assert row.status == "skipped"
