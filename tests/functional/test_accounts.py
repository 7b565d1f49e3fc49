"""Registration, sign-in and sign-out through the real forms, CSRF included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailroom.extensions import db
from mailroom.models import User
from tests.conftest import csrf_token
from tests.support.outbox import queued_code

PASSWORD = "correct horse battery"


def register(client: FlaskClient, **fields: str) -> Any:
    """Post the registration form with a valid CSRF token."""
    data = {"username": "alice", "email": "alice@example.com", "password": PASSWORD,
            "password2": PASSWORD, "csrf_token": csrf_token(client, "/auth/register")}
    data.update(fields)
    return client.post("/auth/register", data=data)


def finish(client: FlaskClient, app: Flask) -> None:
    """Type the emailed code, which starts the account and signs this browser in."""
    response = client.post("/auth/register/code", data={
        "code": queued_code(app), "csrf_token": csrf_token(client, "/auth/register/code")})
    assert response.status_code == 302


def users(app: Flask) -> list[User]:
    """Every stored account."""
    with app.app_context():
        return list(db.session.scalars(db.select(User)))


def test_register_asks_for_the_emailed_code_then_signs_in(client: FlaskClient, app: Flask) -> None:
    response = register(client)
    assert response.status_code == 302
    assert response.location == "/auth/register/code"
    assert client.get("/account/").status_code == 302
    [user] = users(app)
    assert user.password_hash != PASSWORD
    assert user.password_hash.startswith("scrypt:")
    finish(client, app)
    page = client.get("/account/").get_data(as_text=True)
    assert "alice@example.com" in page
    assert 'id="email-status">confirmed' in page


def test_a_taken_username_in_any_letter_case_is_refused_next_to_the_field(
        client: FlaskClient, app: Flask, make_user: Callable[..., User]) -> None:
    make_user()
    response = register(client, username="ALICE", email="bob@example.com")
    assert response.status_code == 400
    assert 'id="username-error"' in response.get_data(as_text=True)
    assert len(users(app)) == 1


def test_password_mismatch_is_shown_beside_the_repeat(client: FlaskClient, app: Flask) -> None:
    response = register(client, password2="something else entirely")
    assert response.status_code == 400
    assert 'id="password2-error"' in response.get_data(as_text=True)
    assert users(app) == []


@pytest.mark.parametrize(("field", "value", "message"), [
    ("username", "a" * 65, "Use 2 to 64 characters."),
    ("email", "a" * 250 + "@example.com", "254"),
    ("password", "short", "Use 8 to 1024 characters."),
    ("password", "p" * 1025, "Use 8 to 1024 characters."),
    ("username", "ali\x00ce", "control characters"),
    ("email", "not-an-address", "valid email"),
    ("username", "al ice", "letters, digits"),
])
def test_bad_fields_get_a_message_not_a_500(client: FlaskClient, app: Flask, field: str,
                                            value: str, message: str) -> None:
    fields = {field: value}
    if field == "password":
        fields["password2"] = value
    response = register(client, **fields)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'id="{field}-error"' in page
    assert message in page
    assert users(app) == []


def test_long_passphrases_are_kept_whole(client: FlaskClient, login: Callable[..., Any]) -> None:
    phrase = "a long passphrase " * 10  # 180 characters
    register(client, password=phrase, password2=phrase)
    finish(client, client.application)
    client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    assert login("alice", phrase[:-1] + "X").status_code == 400
    assert login("alice", phrase).status_code == 302


def test_register_without_csrf_token_is_refused(client: FlaskClient, app: Flask) -> None:
    response = client.post("/auth/register", data={"username": "alice", "email": "a@example.com",
                                                   "password": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 400
    assert users(app) == []


@pytest.mark.parametrize("identifier", ["alice", "ALICE", "alice@example.com", "Alice@EXAMPLE.com"])
def test_sign_in_with_username_or_email(client: FlaskClient, make_user: Callable[..., User],
                                        login: Callable[..., Any], identifier: str) -> None:
    make_user()
    response = login(identifier)
    assert response.status_code == 302
    assert client.get("/account/").status_code == 200


@pytest.mark.parametrize(("identifier", "password"), [("alice", "wrong password"),
                                                      ("nobody", PASSWORD)])
def test_wrong_credentials_get_one_generic_message(client: FlaskClient,
                                                   make_user: Callable[..., User],
                                                   login: Callable[..., Any], identifier: str,
                                                   password: str) -> None:
    make_user()
    response = login(identifier, password)
    assert response.status_code == 400
    assert "Invalid username, email or password." in response.get_data(as_text=True)
    assert client.get("/account/").status_code == 302


def test_sign_out_ends_the_session(client: FlaskClient, make_user: Callable[..., User],
                                   login: Callable[..., Any]) -> None:
    make_user()
    login()
    response = client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert client.get("/account/").status_code == 302


def test_sign_out_by_get_is_not_possible(client: FlaskClient, make_user: Callable[..., User],
                                         login: Callable[..., Any]) -> None:
    make_user()
    login()
    assert client.get("/auth/logout").status_code == 405
    assert client.get("/account/").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/", "///evil.example/", "/\\evil.example",
                                    "https://evil.example/", "http:evil.example"])
def test_unsafe_next_is_ignored(client: FlaskClient, make_user: Callable[..., User],
                                target: str) -> None:
    make_user()
    token = csrf_token(client, "/auth/login")
    response = client.post("/auth/login", query_string={"next": target},
                           data={"identifier": "alice", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert response.location == "/"


def test_local_next_is_followed(client: FlaskClient, make_user: Callable[..., User]) -> None:
    make_user()
    token = csrf_token(client, "/auth/login")
    response = client.post("/auth/login", query_string={"next": "/account/"},
                           data={"identifier": "alice", "password": PASSWORD, "csrf_token": token})
    assert response.location == "/account/"


def test_account_page_requires_sign_in_and_keeps_next(client: FlaskClient) -> None:
    response = client.get("/account/")
    assert response.status_code == 302
    assert "/auth/login?next=" in response.location


def test_signed_in_users_are_sent_away_from_register_and_login(
        client: FlaskClient, make_user: Callable[..., User], login: Callable[..., Any]) -> None:
    make_user()
    login()
    assert client.get("/auth/register").status_code == 302
    assert client.get("/auth/login").status_code == 302
