"""The account page's cards: each form answers in its own card after a 303 (post/redirect/get), no
form address gives a 405 on reload, and the change-of-address code is shown in exactly one state."""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_mailroom.clock import FrozenClock
from flask_mailroom.deliverability import suppression as deliverability
from sqlalchemy import select

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import budget, codes
from tests.conftest import csrf_token
from tests.support.accounts import without_signin_notices
from tests.support.outbox import queued_code

PASSWORD = "correct horse battery"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """On the Redis code store, without Flask-Limiter: its counters there outlive the test (its key
    prefix is the first app's of the process), so reruns would meet a spent "send code" limit."""
    return {**app_config, "RATELIMIT_ENABLED": False} if app_config.get("REDIS_URL") else app_config


@pytest.fixture
def alice(app: Flask, make_user: Callable[..., User], login: Callable[..., Any]) -> User:
    """A confirmed account with an address of its own, signed in on the test client."""
    user = make_user(email=f"alice-{secrets.token_hex(4)}@example.com")
    without_signin_notices(app, user.email)
    assert login().status_code == 302
    return user


@pytest.fixture
def new() -> str:
    """A new address of the test's own: on Redis the account-email budget outlives the test."""
    return f"alice.new-{secrets.token_hex(4)}@example.com"


@pytest.fixture
def token(client: FlaskClient, alice: User) -> str:
    """The account page's CSRF token (read before any answer waits, as reading the page takes it)."""
    return csrf_token(client, "/account/")


def card(page: str, card_id: str) -> str:
    """The HTML of one card of the account page, from its opening tag to the next section."""
    start = page.index(f'id="{card_id}"')
    end = page.find("<section", start)
    return page[start:end if end > 0 else len(page)]


def status_of(page: str, card_id: str, status_id: str | None = None) -> str:
    """The text of a card's status area (role=status)."""
    found = re.search(rf'<div class="card-status" id="{status_id or card_id + "-status"}" role="status"'
                      r' aria-live="polite">(.*?)</div>\s*(?:<|$)', page, re.S)
    assert found, f"no status area for {card_id}"
    return re.sub(r"<[^>]+>", " ", found.group(1))


def stored_user_id(app: Flask) -> int:
    """The id of the one account of these tests."""
    with app.app_context():
        return int(db.session.scalars(select(User.id)).one())


def text_of(html: str) -> str:
    """What a reader sees of some HTML: the text without tags (attributes hold the script's wordings)."""
    return re.sub(r"<[^>]+>", " ", html)


def wrong(code: str) -> str:
    """A well-formed code that is not ``code``."""
    return "ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY"


# --- post/redirect/get, the answer inside its card -----------------------------------------------------

CARD_FORMS = [
    ("/account/password", {"current_password": "not it at all", "password": "a new long passphrase",
                           "password2": "a new long passphrase"}, "change-password",
     "Nothing was changed: please correct the marked field."),
    ("/account/preferences", {"announcements": "1", "signin_notices": "0"}, "preferences",
     "You will receive announcements."),
    ("/account/sessions/end-others", {}, "sessions", "Every other browser is signed out."),
    ("/account/sessions/999999/end", {}, "sessions", "That session has already ended."),
    ("/account/browsers/forget-all", {}, "browsers", "Every browser is forgotten"),
    ("/account/browsers/999999/forget", {}, "browsers", "Your account does not trust that browser."),
    ("/account/email/code", {"email": "nope", "password": PASSWORD}, "change-email",
     "Nothing was changed: please correct the marked field."),
]


@pytest.mark.parametrize(("path", "data", "card_id", "said"), CARD_FORMS)
def test_each_card_form_answers_in_its_card_after_a_303_and_only_once(
        client: FlaskClient, token: str, path: str, data: dict[str, str], card_id: str, said: str) -> None:
    response = client.post(path, data={**data, "csrf_token": token})
    assert (response.status_code, response.location) == (303, f"/account/#{card_id}")
    page = client.get("/account/").get_data(as_text=True)
    status_id = "email-change-status" if card_id == "change-email" else None
    assert said in status_of(page, card_id, status_id)
    assert 'class="alert alert-success alert-dismissible' not in page, "no flash at the top"
    reloaded = client.get("/account/").get_data(as_text=True)
    assert said not in status_of(reloaded, card_id, status_id), "an answer is read once"


def test_field_errors_come_back_beside_their_fields_and_no_password_is_kept(
        client: FlaskClient, token: str) -> None:
    client.post("/account/email/code", data={"email": "not an address", "password": PASSWORD,
                                             "csrf_token": token})
    with client.session_transaction() as session:
        assert PASSWORD not in repr(dict(session))
    page = client.get("/account/").get_data(as_text=True)
    assert 'id="email-error"' in page
    assert 'value="not an address"' in page


@pytest.mark.parametrize(("path", "card_id"), [
    ("/account/password", "change-password"), ("/account/email", "change-email"),
    ("/account/email/code", "change-email"), ("/account/confirm", "confirm"),
    ("/account/confirm/resend", "confirm"), ("/account/preferences", "preferences"),
    ("/account/email/try-again", "address"), ("/account/sessions/3/end", "sessions"),
    ("/account/sessions/end-others", "sessions"), ("/account/browsers/3/forget", "browsers"),
    ("/account/browsers/forget-all", "browsers"), ("/account/signin", "signin"),
    ("/account/language", "language-preferences"),
])
def test_a_reload_of_a_form_address_goes_to_its_card_never_a_405(
        client: FlaskClient, alice: User, path: str, card_id: str) -> None:
    response = client.get(path)
    assert (response.status_code, response.location) == (303, f"/account/#{card_id}")


def test_a_post_answered_as_json_is_unchanged(client: FlaskClient, token: str) -> None:
    response = client.post("/account/preferences", data={"announcements": "1", "csrf_token": token})
    assert response.status_code == 303
    refused = client.post("/account/password", headers={"X-CSRFToken": token, "Accept": "application/json"},
                          json={"current_password": "nope nope", "password": "x" * 12, "password2": "x" * 12})
    assert refused.status_code == 400
    assert refused.json["data"]["field"] == "current_password"


# --- one state per code ---------------------------------------------------------------------------------


def send(client: FlaskClient, token: str, new: str) -> None:
    """Ask for a change-of-address code to ``new`` by the plain form."""
    sent = client.post("/account/email/code", data={"email": new, "password": PASSWORD, "csrf_token": token})
    assert sent.status_code == 303


def type_code(client: FlaskClient, token: str, code: str, new: str) -> Any:
    """Type a code sent to ``new`` into step 2 by the plain form."""
    return client.post("/account/email", data={"code": code, "email": new, "csrf_token": token})


def change_card(client: FlaskClient) -> str:
    """The change-of-address card as the page shows it now."""
    return card(client.get("/account/").get_data(as_text=True), "change-email")


@pytest.mark.parametrize("store_kind", ["database", "redis"])
def test_a_pending_code_is_shown_as_pending(client: FlaskClient, token: str, store_kind: str,
                                            new: str) -> None:
    send(client, token, new)
    html = change_card(client)
    assert 'data-code-state="pending"' in html
    assert f"We sent a code to {new}. Enter it in step 2." in html
    assert re.search(r'<form [^>]*id="change-email-form"[^>]*novalidate>', html), "step 2 is shown"
    assert re.search(r'id="change-code-expiry" role="timer" data-wait-seconds="600"', html)
    assert re.search(r'id="send-code-wait" role="timer" data-wait-seconds="60"', html)
    assert ">Send a new code</button>" in html


@pytest.mark.parametrize("store_kind", ["database", "redis"])
def test_five_wrong_codes_leave_only_the_void_state(client: FlaskClient, app: Flask, token: str,
                                                    store_kind: str, new: str) -> None:
    send(client, token, new)
    right = queued_code(app)
    for _ in range(5):
        assert type_code(client, token, wrong(right), new).status_code == 303
    html = change_card(client)
    assert 'data-code-state="void"' in html
    assert "We sent a code" not in text_of(html)
    assert "That code was typed wrong too many times and no longer works." in html
    assert re.search(r'<form [^>]*id="change-email-form"[^>]*hidden>', html), "step 2 is gone"
    assert 'id="change-step-2" disabled' in html
    assert re.search(r'id="change-code-expiry" role="timer" data-wait-seconds="0"', html), "no expiry clock"
    assert re.search(r'id="send-code-wait" role="timer" data-wait-seconds="600"', html)
    assert "Too many wrong codes: you can ask for a new code in" in html
    assert ">Send a new code</button>" in html
    assert "change-code-error" not in html


@pytest.mark.parametrize("store_kind", ["database", "redis"])
def test_the_fifth_wrong_code_answers_json_with_the_void_state(client: FlaskClient, app: Flask, token: str,
                                                               store_kind: str, new: str) -> None:
    headers = {"X-CSRFToken": token}
    client.post("/account/email/code", headers=headers, json={"email": new, "password": PASSWORD})
    right = queued_code(app)
    replies = [client.post("/account/email", headers=headers, json={"code": wrong(right), "email": new})
               for _ in range(5)]
    assert "code" not in replies[3].json["data"], "still pending after four"
    last = replies[4].json["data"]
    assert last["code"]["state"] == "void"
    assert last["code"]["locked"] is True
    assert last["code"]["resend_after"] == 600
    assert last["code"]["expires_in"] == 0


@pytest.mark.parametrize("store_kind", ["database", "redis"])
def test_an_expired_code_is_shown_as_expired_with_a_new_code_offered(
        client: FlaskClient, app: Flask, token: str, clock: FrozenClock, new: str, store_kind: str) -> None:
    send(client, token, new)
    clock.advance(601)
    if store_kind == "redis":  # Redis drops the code at its expiry, which the frozen clock cannot reach
        with app.app_context():
            codes.discard(codes.EMAIL_CHANGE, stored_user_id(app))
    html = change_card(client)
    assert 'data-code-state="expired"' in html
    assert f"The code sent to {new} has expired. Send a new code in step 1." in html
    assert "We sent a code" not in text_of(html)
    assert re.search(r'<form [^>]*id="change-email-form"[^>]*hidden>', html)
    assert re.search(r'id="send-code-wait" role="timer" data-wait-seconds="0"', html)
    assert ">Send a new code</button>" in html


@pytest.mark.parametrize("store_kind", ["database", "redis"])
def test_after_the_change_the_cooldown_stops_and_step_two_is_gone(
        client: FlaskClient, app: Flask, token: str, store_kind: str, new: str) -> None:
    send(client, token, new)
    done = type_code(client, token, queued_code(app), new)
    assert (done.status_code, done.location) == (303, "/account/#change-email")
    page = client.get("/account/").get_data(as_text=True)
    html = card(page, "change-email")
    assert f"Your address is now {new}." in status_of(page, "change-email", "email-change-status")
    assert 'data-code-state="none"' in html
    assert re.search(r'<form [^>]*id="change-email-form"[^>]*hidden>', html)
    assert re.search(r'id="send-code-wait" role="timer" data-wait-seconds="0"', html)
    assert ">Send code</button>" in html


# --- limits, badges and polish ----------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{"ACCOUNT_EMAILS_PER_HOUR": 2}])
def test_the_page_says_when_mail_to_the_address_is_paused(client: FlaskClient, app: Flask,
                                                          alice: User) -> None:
    assert 'id="mail-paused"' not in client.get("/account/").get_data(as_text=True)
    with app.app_context():
        assert budget.spend(alice.email)
        assert budget.spend(alice.email)
    page = client.get("/account/").get_data(as_text=True)
    assert 'id="mail-paused"' in page
    assert f"Mail to {alice.email} is paused until" in page


def test_a_bounced_address_is_not_shown_as_plainly_confirmed(client: FlaskClient, app: Flask,
                                                              alice: User) -> None:
    with app.app_context():
        deliverability.record_bounce(alice.email, "hard", "test", "550 5.1.1 user unknown")
        db.session.commit()
    page = client.get("/account/").get_data(as_text=True)
    assert 'id="email-status">bounced: mail is not sent to it</span>' in page
    assert 'id="email-status">confirmed' not in page


@pytest.mark.parametrize("password", ["password123", "PASSWORD123", "Qwertyuiop", " iloveyou1 ", "12345678"])
def test_the_most_common_passwords_are_refused_whatever_their_case(client: FlaskClient, token: str,
                                                                   password: str) -> None:
    refused = client.post("/account/password", headers={"X-CSRFToken": token},
                          json={"current_password": PASSWORD, "password": password, "password2": password})
    assert refused.status_code == 400
    assert refused.json["data"]["field"] == "password"
    assert "one of the most common passwords" in refused.json["message"]


def test_the_password_rules_show_before_any_error(client: FlaskClient, alice: User) -> None:
    html = card(client.get("/account/").get_data(as_text=True), "change-password")
    assert 'aria-describedby="new-password-hint"' in html
    assert "At least 8 characters" in html
    assert "invalid-feedback" not in html


def test_every_element_id_on_the_page_is_unique(client: FlaskClient, app: Flask, token: str,
                                                new: str) -> None:
    send(client, token, new)
    type_code(client, token, wrong(queued_code(app)), new)
    page = client.get("/account/").get_data(as_text=True)
    ids = Counter(re.findall(r'\sid="([^"]+)"', page))
    assert [name for name, count in ids.items() if count > 1] == []


def test_the_confirmation_answer_outlives_its_card(client: FlaskClient, app: Flask,
                                                   make_user: Callable[..., User],
                                                   login: Callable[..., Any]) -> None:
    make_user(confirmed=False)
    without_signin_notices(app)
    login()
    token = csrf_token(client, "/account/")
    assert client.post("/account/confirm/resend", data={"csrf_token": token}).status_code == 303
    done = client.post("/account/confirm", data={"code": queued_code(app), "csrf_token": token})
    assert (done.status_code, done.location) == (303, "/account/#confirm")
    page = client.get("/account/").get_data(as_text=True)
    assert 'id="confirm"' not in page
    assert "Thank you: your address is confirmed." in status_of(page, "address")


def test_a_voided_confirmation_code_leaves_no_field_error_and_one_state(
        client: FlaskClient, app: Flask, make_user: Callable[..., User], login: Callable[..., Any]) -> None:
    make_user(confirmed=False)
    without_signin_notices(app)
    login()
    token = csrf_token(client, "/account/")
    client.post("/account/confirm/resend", data={"csrf_token": token})
    right = queued_code(app)
    for _ in range(5):
        client.post("/account/confirm", data={"code": wrong(right), "csrf_token": token})
    html = card(client.get("/account/").get_data(as_text=True), "confirm")
    assert 'data-code-state="void"' in html
    assert "We emailed a code" not in text_of(html)
    assert 'id="confirm-form"' not in html
    assert "please correct the marked field" not in html
    assert ">Send a new code</button>" in html
    assert "Too many wrong codes: you can ask for a new code in" in html


def test_the_expired_state_is_said_for_a_while_then_forgotten(client: FlaskClient, app: Flask, token: str,
                                                              clock: FrozenClock, new: str) -> None:
    send(client, token, new)
    clock.advance(601)
    type_code(client, token, "ABCDEF", new)  # a try after the expiry drops the code from the store
    assert 'data-code-state="expired"' in change_card(client)
    clock.advance(600)
    assert 'data-code-state="none"' in change_card(client)
