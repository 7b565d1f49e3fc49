"""The database unreachable: a 503 page or JSON 503 with Retry-After, never a 500 or an error report."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from mailroom import create_app
from mailroom.models import User
from tests.conftest import base_config, csrf_token
from tests.support.services import free_port

PASSWORD = "correct horse battery"


def unreachable(db_backend: str, tmp_path: Any) -> str:
    """A database URI of the same kind that cannot be opened."""
    if db_backend == "sqlite":
        return f"sqlite:///{tmp_path}/missing-folder/mailroom.sqlite3"
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/mailroom"


def test_every_kind_of_request_gets_a_clean_503(app: Flask, make_user: Callable[..., User],
                                               db_backend: str, tmp_path: Any,
                                               caplog: pytest.LogCaptureFixture) -> None:
    make_user()
    browser = app.test_client()
    browser.post("/auth/login", data={"identifier": "alice", "password": PASSWORD,
                                      "csrf_token": csrf_token(browser, "/auth/login")})
    assert browser.get("/account/").status_code == 200
    token = csrf_token(browser, "/account/")
    # The same site (same secret, same cookies) while its database is unreachable.
    down = create_app({**base_config(unreachable(db_backend, tmp_path)), "ADMINS": ["ops@example.com"]})
    cookie = browser.get_cookie("session", domain="mailroom.test")
    assert cookie is not None
    visitor = down.test_client()
    visitor.set_cookie("session", cookie.value, domain="mailroom.test")
    anonymous = down.test_client()
    anonymous_token = csrf_token(anonymous, "/")
    caplog.set_level(logging.WARNING)
    replies = [visitor.get("/account/"),
               visitor.post("/account/password", headers={"X-CSRFToken": token},
                            json={"current_password": PASSWORD, "password": "x" * 12, "password2": "x" * 12}),
               anonymous.post("/api/auth/reset_password_request", headers={"X-CSRFToken": anonymous_token},
                              json={"email": "alice@example.com"})]
    for reply in replies:
        assert reply.status_code == 503, reply.get_data(as_text=True)[:300]
        assert reply.headers["Retry-After"] == "5"
    assert 'id="error-message"' in replies[0].get_data(as_text=True)
    assert replies[1].json["code"] == replies[2].json["code"] == 503
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("database unavailable" in r.getMessage() for r in caplog.records)
