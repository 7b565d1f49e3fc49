"""Errors of the running application reach ADMINS through the outbox, rate-limited, never raising."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_mailroom.clock import FrozenClock
from flask_mailroom.compose.parse import parse
from sqlalchemy import func, select, text

from mailroom.extensions import db
from mailroom.models import OutboxMessage, User
from mailroom.state import now
from tests.support.smtp import SMTPServer

ADMINS = ["ops@example.com", "dev@example.com"]


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Two admins; errors become 500 pages rather than propagating to the test."""
    return {"ADMINS": ADMINS, "PROPAGATE_EXCEPTIONS": False}


@pytest.fixture
def failing(app: Flask, smtp: SMTPServer) -> FlaskClient:
    """A client of an app with /boom (writes a user, then fails) and /other (fails differently)."""

    @app.get("/boom")
    def boom() -> str:
        db.session.add(User(username="ghost", username_key="ghost", email="g@example.com",
                            email_key="g@example.com", password_hash="x", created_at=now()))
        db.session.flush()
        raise RuntimeError("kaboom")

    @app.get("/other")
    def other() -> str:
        raise KeyError("missing")

    return app.test_client()


def reports(app: Flask) -> list[OutboxMessage]:
    """The error reports in the outbox."""
    with app.app_context():
        rows = list(db.session.scalars(select(OutboxMessage)
                                       .where(OutboxMessage.template == "error_report")
                                       .order_by(OutboxMessage.id)))
        db.session.expunge_all()
        return rows


def test_an_error_is_reported_to_admins_even_though_the_request_rolled_back(
        app: Flask, failing: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    response = failing.get("/boom?token=SECRET-TOKEN")
    assert response.status_code == 500
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0
    [row] = reports(app)
    assert sorted(row.recipients) == sorted(ADMINS)
    deliver()
    [received] = smtp.wait_for(1)
    assert sorted(received.rcpt_tos) == sorted(ADMINS)
    subject = str(received.message["Subject"])
    assert subject.startswith("[Mailroom] RuntimeError: kaboom")
    body = received.text()
    assert "Traceback (most recent call last)" in body
    assert "GET /boom (endpoint boom)" in body
    assert "SECRET-TOKEN" not in received.data.decode("ascii")
    assert "RuntimeError: kaboom" in received.html()


def test_an_error_storm_sends_one_report_per_kind_per_interval(
        app: Flask, failing: FlaskClient, clock: FrozenClock, smtp: SMTPServer) -> None:
    for _ in range(20):
        assert failing.get("/boom").status_code == 500
    assert len(reports(app)) == 1
    assert failing.get("/other").status_code == 500
    assert len(reports(app)) == 2, "another kind of error is reported on its own"

    clock.advance(app.config["ERROR_EMAIL_INTERVAL"])
    failing.get("/boom")
    latest = reports(app)[-1]
    assert len(reports(app)) == 3
    body = parse(latest.raw).get_body(preferencelist=("plain",))
    assert body is not None
    text = " ".join(str(body.get_content()).split())
    assert "This error happened 19 more times since it was last reported" in text


def test_several_processes_send_one_report_per_kind_per_interval(
        app: Flask, failing: FlaskClient, smtp: SMTPServer) -> None:
    failing.get("/boom")
    from mailroom.error_reports import SERVICE, ErrorReporter
    from mailroom.state import state

    state(app).services[SERVICE] = ErrorReporter(app)  # as if a second process had the error
    assert failing.get("/boom").status_code == 500
    assert len(reports(app)) == 1


@pytest.mark.parametrize("settings", [
    pytest.param({"DEBUG": True}, id="debug"),
    pytest.param({"ADMINS": []}, id="no-admins"),
    pytest.param({"MAIL_TRANSPORT": "devmail"}, id="no-mail-server"),
])
def test_no_report_in_debug_without_admins_or_without_a_mail_server(
        app: Flask, failing: FlaskClient, settings: dict[str, Any]) -> None:
    app.config.update(settings)
    assert failing.get("/boom").status_code == 500
    assert reports(app) == []


def test_a_report_that_cannot_be_built_never_breaks_the_error_path(
        app: Flask, failing: FlaskClient) -> None:
    app.config["ADMINS"] = ["not an address"]
    response = failing.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.get_data(as_text=True)
    assert reports(app) == []


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_a_report_that_cannot_be_stored_never_breaks_the_error_path(
        app: Flask, failing: FlaskClient) -> None:
    with app.app_context():
        db.session.execute(text("DROP TABLE outbox"))
        db.session.commit()
    response = failing.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.get_data(as_text=True)
