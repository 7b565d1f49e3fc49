"""The JSON twins of the reset pages: one reply shape, fields named, CSRF from X-CSRFToken."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mailroom.extensions import db
from mailroom.models import OutboxMessage, User
from mailroom.services import reset
from tests.conftest import csrf_token
from tests.support.accounts import without_signin_notices
from tests.support.smtp import SMTPServer

OLD = "correct horse battery"
NEW = "a brand new passphrase"
REQUEST = "/api/auth/reset_password_request"
RESET = "/api/auth/reset_password"
LINK = re.compile(r"https://mailroom\.test/auth/reset_password/([\w\-]+\.[\w\-]+\.[\w\-]+)")


def api(client: FlaskClient, path: str, body: Any, **options: Any) -> TestResponse:
    """POST JSON with the session's CSRF token in X-CSRFToken, as the page's script does."""
    headers = {"X-CSRFToken": csrf_token(client)}
    return client.post(path, json=body, headers=headers, **options)


def token_for(app: Flask, user: User) -> str:
    """A genuine reset token for the user as stored now."""
    with app.app_context():
        return reset.issue_link_token(db.session.get(User, user.id))


def without_cookie_values(response: TestResponse) -> list[tuple[str, str]]:
    """The headers, with each cookie's value (per-session) cut out and its attributes kept."""
    return [(name, value.split(";", 1)[1] if name == "Set-Cookie" else value)
            for name, value in response.headers.items()]


def queued(app: Flask) -> int:
    """How many messages the outbox holds."""
    with app.app_context():
        return len(db.session.scalars(db.select(OutboxMessage)).all())


def signs_in(client: FlaskClient, password: str) -> bool:
    """Whether alice can sign in with this password."""
    response = client.post("/auth/login", data={"identifier": "alice", "password": password,
                                                "csrf_token": csrf_token(client, "/auth/login")})
    return response.status_code == 302


def test_known_and_unknown_addresses_get_identical_json(app: Flask, make_user: Callable[..., User]
                                                        ) -> None:
    make_user()
    known = api(app.test_client(), REQUEST, {"email": "alice@example.com"})
    unknown = api(app.test_client(), REQUEST, {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.get_data() == unknown.get_data()
    assert without_cookie_values(known) == without_cookie_values(unknown)
    assert known.json is not None
    assert set(known.json) == {"code", "message", "data"}
    assert known.json["code"] == 202
    assert known.headers["Cache-Control"] == "no-store"
    # Both requests did the same work: one deferred row each, built (or skipped) by the worker.
    assert queued(app) == 2


def test_whole_flow_over_json(app: Flask, client: FlaskClient, smtp: SMTPServer,
                              deliver: Callable[[], int], make_user: Callable[..., User]) -> None:
    make_user()
    api(client, REQUEST, {"email": "alice@example.com"})
    deliver()
    [message] = smtp.wait_for(1)
    found = LINK.search(message.text())
    assert found
    done = api(client, RESET, {"token": found.group(1), "password": NEW, "password2": NEW})
    assert done.status_code == 200
    assert done.json == {"code": 200, "data": {"login": "/auth/login"},
                         "message": "Your password has been changed and every session signed out. "
                                    "Sign in with your new password."}
    again = api(client, RESET, {"token": found.group(1), "password": NEW, "password2": NEW})
    assert again.status_code == 400
    assert again.json is not None
    assert again.json["data"]["reason"] == "invalid"
    assert not signs_in(client, OLD)
    assert signs_in(client, NEW)


@pytest.mark.parametrize(("seconds", "reason"), [(599, None), (601, "expired")])
def test_expired_and_valid_tokens_over_json(app: Flask, client: FlaskClient, clock: Any,
                                            make_user: Callable[..., User], seconds: int,
                                            reason: str | None) -> None:
    token = token_for(app, make_user())
    clock.advance(seconds)
    response = api(client, RESET, {"token": token, "password": NEW, "password2": NEW})
    assert response.json is not None
    if reason is None:
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert response.json["data"]["field"] == "token"
        assert response.json["data"]["reason"] == "expired"
        assert "expired" in response.json["message"]


# Input refused by validation: the database cannot change the outcome, so one is enough.
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("body", "field", "message"), [
    ({"email": "not-an-address"}, "email", "valid email"),
    ({"email": ""}, "email", "required"),
    ({}, "email", "required"),
    ({"email": 12}, "email", "must be a string"),
    ({"email": ["alice@example.com"]}, "email", "must be a string"),
    (["alice@example.com"], "", "JSON object"),
    ("alice@example.com", "", "JSON object"),
])
def test_request_field_errors_name_the_field(app: Flask, client: FlaskClient,
                                             make_user: Callable[..., User], body: Any,
                                             field: str, message: str) -> None:
    make_user()
    response = api(client, REQUEST, body)
    assert response.status_code == 400
    assert response.json is not None
    assert response.json["code"] == 400
    assert response.json["data"]["field"] == field
    assert message in response.json["message"]
    assert queued(app) == 0


# Input refused by validation: the database cannot change the outcome, so one is enough.
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("body", "field"), [
    ({"password": NEW, "password2": NEW}, "token"),
    ({"token": "{token}", "password": "short", "password2": "short"}, "password"),
    ({"token": "{token}", "password": NEW, "password2": "different"}, "password2"),
    ({"token": "{token}", "password": NEW}, "password2"),
    ({"token": "{token}", "password": 123456789, "password2": 123456789}, "password"),
    ({"token": "x" * 5000, "password": NEW, "password2": NEW}, "token"),
    ({"token": "not-a-token", "password": NEW, "password2": NEW}, "token"),
])
def test_reset_field_errors_name_the_field(app: Flask, client: FlaskClient,
                                           make_user: Callable[..., User], body: dict[str, Any],
                                           field: str) -> None:
    alice = make_user()
    token = token_for(app, alice)
    filled = {k: (v.format(token=token) if isinstance(v, str) else v) for k, v in body.items()}
    response = api(client, RESET, filled)
    assert response.status_code == 400
    assert response.json is not None
    assert response.json["data"]["field"] == field
    assert field in response.json["data"]["errors"]
    assert signs_in(client, OLD)


def test_a_missing_csrf_header_is_refused(app: Flask, client: FlaskClient,
                                          make_user: Callable[..., User]) -> None:
    token = token_for(app, make_user())
    for path, body in ((REQUEST, {"email": "alice@example.com"}),
                       (RESET, {"token": token, "password": NEW, "password2": NEW})):
        response = client.post(path, json=body)
        assert response.status_code == 400
        assert response.json is not None
        assert response.json["data"] == {"field": "csrf_token"}
    assert queued(app) == 0
    assert signs_in(client, OLD)


def test_signed_in_users_are_turned_away(app: Flask, client: FlaskClient,
                                         make_user: Callable[..., User],
                                         login: Callable[..., Any]) -> None:
    token = token_for(app, make_user())
    without_signin_notices(app)
    login()
    assert api(client, REQUEST, {"email": "alice@example.com"}).status_code == 403
    assert api(client, RESET, {"token": token, "password": NEW, "password2": NEW}).status_code == 403
    assert queued(app) == 0


@pytest.mark.parametrize("app_config", [{"RATELIMIT_RESET_PER_CLIENT": "1 per minute"}])
def test_limits_over_json(app: Flask, client: FlaskClient, make_user: Callable[..., User]) -> None:
    make_user()
    make_user("bob", "bob@example.com")
    first = api(client, REQUEST, {"email": "alice@example.com"})
    second = api(client, REQUEST, {"email": "bob@example.com"})
    assert first.get_data() == second.get_data()
    assert queued(app) == 1
    body = {"token": "not-a-token", "password": NEW, "password2": NEW}
    assert api(client, RESET, body).status_code == 400
    limited = api(client, RESET, body)
    assert limited.status_code == 429
    assert limited.json is not None
    assert limited.json["code"] == 429
