"""The reset token between the link and the form waits on the server; the browser's session holds a handle.

Flask's session cookie is signed, not encrypted: anyone holding it can read it. So the link's first
GET stores the token in a ``reset_handoffs`` row under the SHA-256 of a random handle and puts only
the handle in the session; the form reads it, and a successful reset deletes it. Expired handoffs
are refused and swept (``flask users sweep``, and every web process every SWEEP_INTERVAL).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_mailroom.clock import FrozenClock
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from mailroom.extensions import db
from mailroom.models import ResetHandoff, User
from mailroom.services import reset
from tests.conftest import csrf_token
from tests.support.reset_links import LANDING
from tests.support.smtp import SMTPServer

OLD = "correct horse battery"
NEW = "a brand new passphrase"
TTL = 600
LINK = re.compile(r"https://mailroom\.test(/auth/reset_password/[A-Za-z0-9_\-.]+)")
LINK_EXPIRED = "This reset link has expired"
LINK_INVALID = "This reset link is not valid"


def session_of(app: Flask, client: FlaskClient) -> dict[str, Any]:
    """The client's Flask session, decoded with the app's own serializer (as anyone holding it can)."""
    cookie = client.get_cookie("session", domain="mailroom.test")
    assert cookie is not None
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    decoded = serializer.loads(cookie.value)
    assert isinstance(decoded, dict)
    return decoded


def handoffs(app: Flask) -> list[ResetHandoff]:
    """Every stored handoff."""
    with app.app_context():
        rows = list(db.session.scalars(select(ResetHandoff)))
        db.session.expunge_all()
        return rows


def link_token(app: Flask, user: User) -> str:
    """A genuine reset token for the user, as the emailed link carries it."""
    with app.app_context():
        return reset.issue_link_token(db.session.get(User, user.id))


def new_password(client: FlaskClient, password: str = NEW) -> TestResponse:
    """Post the form of the landing page (after the link was opened)."""
    return client.post(LANDING, data={"password": password, "password2": password,
                                      "csrf_token": csrf_token(client, "/auth/login")})


def sign_in(client: FlaskClient, password: str) -> TestResponse:
    """Sign alice in through the form."""
    return client.post("/auth/login", data={"identifier": "alice", "password": password,
                                            "csrf_token": csrf_token(client, "/auth/login")})


def test_the_whole_flow_keeps_the_token_out_of_the_session_cookie(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User]) -> None:
    make_user()
    client.post("/auth/reset_password_request", data={
        "email": "alice@example.com", "csrf_token": csrf_token(client, "/auth/reset_password_request")})
    assert deliver() == 1
    [message] = smtp.wait_for(1)
    found = LINK.search(message.text())
    assert found
    link = found.group(1)
    token = link.rsplit("/", 1)[1]
    landing = client.get(link)
    assert (landing.status_code, landing.location) == (302, LANDING)
    stored = session_of(app, client)
    cookie_text = json.dumps(stored)
    for part in (token, *token.split(".")):
        assert part not in cookie_text
    handle = stored["reset_handoff"]
    assert len(handle) == 43
    [row] = handoffs(app)
    assert row.handle_hash == hashlib.sha256(handle.encode()).hexdigest()
    assert row.token == token
    assert handle not in row.handle_hash
    form = client.get(LANDING)
    assert form.status_code == 200
    assert 'name="password2"' in form.get_data(as_text=True)
    done = new_password(client)
    assert (done.status_code, done.location) == (302, "/auth/login")
    assert handoffs(app) == []
    assert "reset_handoff" not in session_of(app, client)
    assert sign_in(client, OLD).status_code == 400
    assert sign_in(client, NEW).status_code == 302


def test_a_link_that_is_not_genuine_stores_nothing(app: Flask, client: FlaskClient,
                                                   make_user: Callable[..., User]) -> None:
    token = link_token(app, make_user())
    for bad in (token[:-3], "not-a-token", "a" * 5000):
        page = client.get(f"{LANDING}/{bad}", follow_redirects=True)
        assert page.status_code == 400
        assert LINK_INVALID in page.get_data(as_text=True)
        assert session_of(app, client)["reset_handoff"] == ""
    assert handoffs(app) == []


def test_a_link_opened_after_it_expired_says_so_and_stores_nothing(
        app: Flask, client: FlaskClient, clock: FrozenClock, make_user: Callable[..., User]) -> None:
    token = link_token(app, make_user())
    clock.advance(TTL)
    page = client.get(f"{LANDING}/{token}", follow_redirects=True)
    assert page.status_code == 400
    assert LINK_EXPIRED in page.get_data(as_text=True)
    assert handoffs(app) == []
    assert new_password(client).status_code == 400


def test_an_expired_handoff_is_refused_then_swept(app: Flask, client: FlaskClient, clock: FrozenClock,
                                                  make_user: Callable[..., User]) -> None:
    alice = make_user()
    token = link_token(app, alice)
    clock.advance(TTL - 60)
    assert client.get(f"{LANDING}/{token}", follow_redirects=True).status_code == 200
    [row] = handoffs(app)
    assert row.expires_at == clock.now() + timedelta(seconds=60)
    clock.advance(60)
    for response in (client.get(LANDING), new_password(client)):
        assert response.status_code == 400
        assert LINK_EXPIRED in response.get_data(as_text=True)
    assert len(handoffs(app)) == 1
    result = app.test_cli_runner().invoke(args=["users", "sweep"])
    assert result.exit_code == 0, result.output
    assert "1 expired reset handoffs" in result.output
    assert handoffs(app) == []
    # The session still holds the handle: the page still says the link expired.
    assert LINK_EXPIRED in client.get(LANDING).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, alice.id).password_hash == alice.password_hash


def test_a_second_browser_cannot_use_the_first_ones_handoff(app: Flask, client: FlaskClient,
                                                            make_user: Callable[..., User]) -> None:
    token = link_token(app, make_user())
    assert client.get(f"{LANDING}/{token}", follow_redirects=True).status_code == 200
    other = app.test_client()
    page = other.get(LANDING)
    assert page.status_code == 400
    assert LINK_INVALID in page.get_data(as_text=True)
    assert new_password(other).status_code == 400
    assert new_password(client).status_code == 302


@pytest.mark.parametrize("app_config", [{"RATELIMIT_RESET_PER_CLIENT": "2 per minute"}])
def test_opening_links_is_limited_per_client(app: Flask, client: FlaskClient,
                                             make_user: Callable[..., User]) -> None:
    token = link_token(app, make_user())
    opened = [client.get(f"{LANDING}/{token}", environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code
              for _ in range(3)]
    assert opened == [302, 302, 429]
    other = app.test_client().get(f"{LANDING}/{token}", environ_base={"REMOTE_ADDR": "192.0.2.2"})
    assert other.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ResetHandoff)) == 3
