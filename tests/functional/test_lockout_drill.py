"""The lockout drill (OWASP's device cookies): guessers on the owner's network and at the owner's
account pause everyone else, never the browser the owner signed in with before. On the memory and
the Redis throttle store, with a frozen clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_mailroom.clock import FrozenClock
from werkzeug.test import TestResponse

from mailroom.models import User
from tests.conftest import csrf_token

PASSWORD = "correct horse battery"
WRONG = "not the password at all"
NAT = "203.0.113.5"  # the owner's office: one address for the owner and the guesser
MAX_DELAY = 60  # SIGNIN_DELAY_MAX's default: a longer wait is a lockout
DOMAIN = "mailroom.test"

pytestmark = pytest.mark.parametrize("store_kind", ["memory", "redis"])


def attempt(client: FlaskClient, identifier: str, password: str = WRONG, address: str = NAT,
            as_json: bool = False) -> TestResponse:
    """One sign-in attempt from ``address``."""
    token = csrf_token(client, "/auth/login")
    data = {"identifier": identifier, "password": password}
    environ = {"REMOTE_ADDR": address}
    if as_json:
        return client.post("/auth/login", json=data, headers={"X-CSRFToken": token}, environ_base=environ)
    return client.post("/auth/login", data={**data, "csrf_token": token}, environ_base=environ)


def sign_out(client: FlaskClient) -> None:
    """Press "Sign out"."""
    assert client.post("/auth/logout", data={"csrf_token": csrf_token(client)}).status_code == 302


def guess(client: FlaskClient, clock: FrozenClock, identifier: str, times: int,
          address: str = NAT) -> list[int]:
    """``times`` wrong passwords, waiting out the short delays as a patient guesser would; the statuses."""
    statuses = []
    for _ in range(times):
        response = attempt(client, identifier, address=address)
        if response.status_code == 429 and int(response.headers["Retry-After"]) <= MAX_DELAY:
            clock.advance(int(response.headers["Retry-After"]))
            response = attempt(client, identifier, address=address)
        statuses.append(response.status_code)
    return statuses


def test_the_owners_browser_gets_in_at_once_and_a_new_one_is_still_paused(
        app: Flask, clock: FrozenClock, make_user: Callable[..., User]) -> None:
    make_user()
    for name in ("bob", "carol"):
        make_user(name, f"{name}@example.com")
    owner = app.test_client()
    assert attempt(owner, "alice", PASSWORD).status_code == 302
    assert owner.get_cookie("mailroom_device", domain=DOMAIN) is not None
    sign_out(owner)

    guesser = app.test_client()
    mine = guess(guesser, clock, "alice", 50)
    others = [guess(guesser, clock, ("bob", "carol", "nobody")[n % 3], 1)[0] for n in range(50)]
    assert mine.count(400) == 10, "ten failures pause the account"
    assert mine[-1] == 429, "the owner's account is paused"
    assert others[-1] == 429, "the office's address is paused"
    assert int(attempt(guesser, "alice").headers["Retry-After"]) > MAX_DELAY

    welcome = attempt(owner, "alice", PASSWORD)
    assert welcome.status_code == 302, "the owner's browser is never paused by the guessers"
    assert owner.get("/account/").status_code == 200
    sign_out(owner)
    assert attempt(owner, "alice@example.com", PASSWORD, as_json=True).status_code == 200

    for stranger, address in ((app.test_client(), NAT), (app.test_client(), "198.51.100.20")):
        refused = attempt(stranger, "alice", PASSWORD, address)
        assert refused.status_code == 429, "a new browser with the right password is still paused"
        assert int(refused.headers["Retry-After"]) > MAX_DELAY
    # Bob never signed in on the owner's browser: its cookie does not help there.
    sign_out(owner)
    assert attempt(owner, "bob", PASSWORD).status_code == 429


def test_a_trusted_browser_is_paused_by_its_own_failures_alone(
        app: Flask, clock: FrozenClock, make_user: Callable[..., User]) -> None:
    make_user()
    laptop = app.test_client()
    assert attempt(laptop, "alice", PASSWORD).status_code == 302
    sign_out(laptop)
    statuses = guess(laptop, clock, "alice", 12)
    assert statuses[:10] == [400] * 10
    assert statuses[-1] == 429
    refused = attempt(laptop, "alice", PASSWORD, as_json=True)
    assert refused.status_code == 429
    assert refused.json["data"] == {"field": "password", "retry_after": 900}
    assert "Too many failed sign-in attempts" in refused.json["message"]
    # Its failures were its own: the account and the address are not paused for anyone else.
    assert attempt(app.test_client(), "alice", PASSWORD).status_code == 302


def test_the_owner_getting_in_does_not_release_the_guessers(
        app: Flask, clock: FrozenClock, make_user: Callable[..., User]) -> None:
    make_user()
    owner = app.test_client()
    assert attempt(owner, "alice", PASSWORD, "192.0.2.1").status_code == 302
    sign_out(owner)
    for n in range(10):
        assert guess(app.test_client(), clock, "alice", 1, f"198.51.100.{n + 1}") == [400]
    assert attempt(app.test_client(), "alice", address="198.51.100.99").status_code == 429
    assert attempt(owner, "alice", PASSWORD, "192.0.2.1").status_code == 302
    assert attempt(app.test_client(), "alice", PASSWORD, "198.51.100.99").status_code == 429
