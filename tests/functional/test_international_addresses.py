"""International addresses: domains stored and sent in ASCII, non-ASCII local parts only with SMTPUTF8."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mailroom.models import User
from tests.conftest import csrf_token
from tests.support.accounts import without_signin_notices
from tests.support.outbox import outbox

PASSWORD = "correct horse battery"


def send_code(client: FlaskClient, address: str) -> TestResponse:
    """Ask for a change-of-address code at ``address`` (AJAX, as the page does)."""
    return client.post("/account/email/code", json={"email": address, "password": PASSWORD},
                       headers={"X-CSRFToken": csrf_token(client, "/account/")})


def test_an_international_domain_is_stored_and_sent_in_ascii(
        app: Flask, client: FlaskClient, make_user: Callable[..., User], login: Callable[..., Any]) -> None:
    make_user()
    login()
    response = send_code(client, "Jo@Bücher.Example")
    assert response.status_code == 200
    assert response.json["data"]["email"] == "Jo@xn--bcher-kva.example"
    assert outbox(app)[-1].recipients == ["Jo@xn--bcher-kva.example"]


def test_a_non_ascii_local_part_is_refused_with_a_reason(
        app: Flask, client: FlaskClient, make_user: Callable[..., User], login: Callable[..., Any]) -> None:
    make_user()
    without_signin_notices(app)
    login()
    response = send_code(client, "jörg@example.com")
    assert response.status_code == 400
    assert response.json["data"]["field"] == "email"
    assert "outside ASCII before the @" in response.json["message"]
    assert outbox(app) == []


@pytest.mark.parametrize("app_config", [{"MAIL_SMTPUTF8": True}])
def test_smtputf8_lets_a_non_ascii_local_part_through(
        app: Flask, client: FlaskClient, make_user: Callable[..., User], login: Callable[..., Any]) -> None:
    make_user()
    login()
    response = send_code(client, "jörg@bücher.example")
    assert response.status_code == 200
    assert outbox(app)[-1].recipients == ["jörg@xn--bcher-kva.example"]
