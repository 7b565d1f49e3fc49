"""Sign-in throttling through HTTP, on the memory and the Redis limit store, with a frozen clock."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_mailroom.clock import FrozenClock
from werkzeug.test import TestResponse

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import reset
from tests.conftest import csrf_token
from tests.support.smtp import SMTPServer

PASSWORD = "correct horse battery"
WRONG = "not the password at all"
NEW = "a brand new passphrase"
CSRF = re.compile(r'(csrf-token" content|name="csrf_token" type="hidden" value)="[^"]+"')
MAX_DELAY = 60  # SIGNIN_DELAY_MAX's default: a longer wait is the lockout

pytestmark = pytest.mark.parametrize("store_kind", ["memory", "redis"])


def attempt(client: FlaskClient, identifier: str, password: str = WRONG,
            address: str = "203.0.113.5", as_json: bool = False) -> TestResponse:
    """One sign-in attempt from ``address``."""
    token = csrf_token(client, "/auth/login")
    data = {"identifier": identifier, "password": password}
    environ = {"REMOTE_ADDR": address}
    if as_json:
        return client.post("/auth/login", json=data, headers={"X-CSRFToken": token}, environ_base=environ)
    return client.post("/auth/login", data={**data, "csrf_token": token}, environ_base=environ)


def patient(client: FlaskClient, clock: FrozenClock, identifier: str, address: str,
            waits: list[int]) -> TestResponse:
    """Attempt, waiting out the short delays (noted in ``waits``) as a patient guesser would."""
    response = attempt(client, identifier, address=address)
    while response.status_code == 429 and int(response.headers["Retry-After"]) <= MAX_DELAY:
        waits.append(int(response.headers["Retry-After"]))
        clock.advance(waits[-1])
        response = attempt(client, identifier, address=address)
    return response


def test_the_30th_wrong_password_from_one_client_is_refused(
        app: Flask, client: FlaskClient, clock: FrozenClock, make_user: Callable[..., User]) -> None:
    make_user()
    waits: list[int] = []
    statuses = [patient(client, clock, f"guess{n}@example.com", "203.0.113.5", waits).status_code
                for n in range(1, 31)]
    assert statuses == [400] * 20 + [429] * 10
    assert waits == sorted(waits)
    assert waits[0] == 2
    assert waits[-1] == MAX_DELAY
    refused = attempt(client, "alice", PASSWORD)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > MAX_DELAY
    assert attempt(app.test_client(), "alice", PASSWORD, address="198.51.100.1").status_code == 302


def scrub(response: TestResponse, identifier: str) -> str:
    """The body without the identifier typed and without the client's own CSRF token."""
    return CSRF.sub("", response.get_data(as_text=True).replace(identifier, ""))


def lock_out(app: Flask, clock: FrozenClock, identifier: str) -> list[TestResponse]:
    """Wrong passwords for one account from ever new addresses until it is paused; the refusals."""
    waits: list[int] = []
    for n in range(10):
        assert patient(app.test_client(), clock, identifier, f"192.0.2.{n + 1}", waits).status_code == 400
    return [attempt(app.test_client(), identifier, address="192.0.2.200", as_json=as_json)
            for as_json in (False, True)]


def test_the_refusal_reads_the_same_for_known_and_unknown_accounts(
        app: Flask, clock: FrozenClock, make_user: Callable[..., User],
        caplog: pytest.LogCaptureFixture) -> None:
    make_user()
    caplog.set_level(logging.WARNING, logger="mailroom")
    known = lock_out(app, clock, "alice@example.com")
    unknown = lock_out(app, clock, "nobody@example.com")
    for mine, theirs in zip(known, unknown, strict=True):
        assert mine.status_code == theirs.status_code == 429
        assert mine.headers["Retry-After"] == theirs.headers["Retry-After"] == "900"
        assert scrub(mine, "alice@example.com") == scrub(theirs, "nobody@example.com")
    assert known[1].json["data"] == {"field": "password", "retry_after": 900}
    assert "Too many failed sign-in attempts" in known[0].get_data(as_text=True)
    # The right password does not get in while the account is paused.
    assert attempt(app.test_client(), "alice@example.com", PASSWORD, "192.0.2.201").status_code == 429
    refusals = [r.getMessage() for r in caplog.records if "sign-in refused" in r.getMessage()]
    assert refusals
    assert not any(WRONG in r.getMessage() or PASSWORD in r.getMessage() for r in caplog.records)


def test_the_owner_is_told_once_and_gets_in_with_a_reset(
        app: Flask, clock: FrozenClock, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User]) -> None:
    alice = make_user()
    lock_out(app, clock, "alice")
    clock.advance(900)
    # Same episode: the failure counts (and pauses again) but tells nobody twice.
    assert attempt(app.test_client(), "alice", address="192.0.2.240").status_code == 400
    assert attempt(app.test_client(), "alice", address="192.0.2.241").status_code == 429
    deliver()
    told = [m for m in smtp.messages if m.message["Subject"].startswith("Someone is trying")]
    assert [m.rcpt_tos for m in told] == [["alice@example.com"]]
    assert "https://mailroom.test/auth/reset_password_request" in told[0].text()
    assert WRONG not in told[0].text()
    with app.app_context():
        token = reset.issue_link_token(db.session.get(User, alice.id))
        reset.reset_password(token, NEW, "192.0.2.250")
    assert attempt(app.test_client(), "alice", NEW, "192.0.2.251").status_code == 302
