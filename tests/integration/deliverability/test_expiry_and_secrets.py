"""Account mail never goes out with a dead link, and its secret does not linger: not in the outbox
once delivered, expired or failed, not in any log line, not in the address of the landing page."""

from __future__ import annotations

import logging
import re
import threading
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import inspect
from werkzeug.serving import make_server

from mailroom.models import OutboxMessage, User
from tests.conftest import csrf_token
from tests.support.accounts import without_browser_check
from tests.support.outbox import outbox
from tests.support.reset_links import open_link, post_new_password
from tests.support.services import free_port
from tests.support.smtp import SMTPServer

TTL = 600
LINK = re.compile(r"/auth/reset_password/([\w\-]+\.[\w\-]+\.[\w\-]+)")
NEW = "a brand new passphrase"


def ask_for_link(client: FlaskClient, address: str = "alice@example.com") -> None:
    """Post the reset request form."""
    data = {"email": address, "csrf_token": csrf_token(client, "/auth/reset_password_request")}
    assert client.post("/auth/reset_password_request", data=data).status_code == 302


def every_value(row: OutboxMessage) -> str:
    """Every column of a row as text, bytes decoded."""
    values = [getattr(row, c.key) for c in inspect(OutboxMessage).column_attrs]
    return "\n".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else repr(v) for v in values)


@pytest.fixture
def down_port() -> int:
    """A port where no mail server listens yet."""
    return free_port()


@pytest.mark.parametrize("app_config", [{"MAIL_SERVER": "127.0.0.1", "MAIL_SUPPRESS_SEND": False,
                                         "MAIL_TRANSPORT": "smtp", "MAIL_TIMEOUT": 2}])
def test_a_link_that_died_while_the_server_was_down_is_never_delivered(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner, deliver: Callable[[], int],
        make_user: Callable[..., User], clock: Any, down_port: int,
        login: Callable[..., Any]) -> None:
    app.config["MAIL_PORT"] = down_port
    make_user()
    ask_for_link(client)
    deliver()
    [row] = outbox(app)
    assert (row.status, row.attempts) == ("queued", 0), "an unreachable server costs no attempt"
    assert row.last_error is not None
    assert "cannot connect" in row.last_error
    clock.advance(TTL + 1)
    server = SMTPServer(port=down_port).start()
    try:
        assert deliver() == 1
        assert server.messages == []
    finally:
        server.stop()
    [row] = outbox(app)
    assert (row.status, row.raw) == ("expired", b"")
    assert row.last_error is not None
    assert "stopped working" in row.last_error
    assert re.search(r"expired\s+│\s+1", runner.invoke(args=["mail", "status"]).output)
    runner.invoke(args=["users", "grant-admin", "alice@example.com"])
    without_browser_check(app, "alice@example.com")
    login()
    assert 'id="count-expired">1<' in client.get("/admin/dashboard").get_data(as_text=True)


def test_asking_again_after_an_expired_link_sends_a_fresh_one(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User], clock: Any) -> None:
    make_user()
    ask_for_link(client)
    clock.advance(TTL)
    ask_for_link(client)
    deliver()
    assert [r.status for r in outbox(app)] == ["expired", "sent"]
    [message] = smtp.wait_for(1)
    assert LINK.search(message.text())


def test_a_code_email_that_expired_in_the_queue_is_not_sent(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int], make_user: Callable[..., User],
        clock: Any) -> None:
    from mailroom.extensions import db
    from mailroom.services import confirmation

    make_user(confirmed=False)
    with app.app_context():
        confirmation.resend(db.session.get(User, 1))
    clock.advance(app.config["EMAIL_CODE_TTL"])
    deliver()
    [row] = outbox(app)
    assert (row.status, row.raw, smtp.messages) == ("expired", b"", [])


@pytest.mark.parametrize("reply", ["550 5.1.1 No such user", "554 5.7.1 Rejected"])
def test_a_failed_account_email_loses_its_body_and_cannot_be_requeued(
        app: Flask, client: FlaskClient, smtp: SMTPServer, runner: FlaskCliRunner,
        deliver: Callable[[], int], make_user: Callable[..., User], reply: str) -> None:
    make_user()
    smtp.fail_data(reply)
    ask_for_link(client)
    deliver()
    [row] = outbox(app)
    assert (row.status, row.raw) == ("failed", b"")
    refused = runner.invoke(args=["mail", "retry", str(row.id)])
    assert refused.exit_code == 1
    assert "ask for a new email" in refused.output


@pytest.fixture
def access_log(app: Flask) -> Iterator[str]:
    """The app served by Werkzeug's development server (which writes the access log); its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
    server.server_close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Stop at the first reply, as a log line is written per request."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        """Follow nothing."""
        return None


def test_a_reset_leaves_its_token_in_no_row_no_log_line_and_no_landing_url(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User], caplog: pytest.LogCaptureFixture, access_log: str) -> None:
    caplog.set_level(logging.DEBUG)
    make_user()
    ask_for_link(client)
    deliver()
    found = LINK.search(smtp.wait_for(1)[0].text())
    assert found
    token = found.group(1)
    landing = client.get(f"/auth/reset_password/{token}")
    assert (landing.status_code, landing.location) == (302, "/auth/reset_password")
    page = open_link(client, token)
    assert token not in page.get_data(as_text=True)
    assert post_new_password(client, token, {"password": NEW, "password2": NEW,
                                             "csrf_token": csrf_token(client)}).status_code == 302
    deliver()
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(f"{access_log}/auth/reset_password/{token}", timeout=10)
    assert answer.value.code == 302
    answer.value.close()
    assert all(token not in every_value(row) for row in outbox(app))
    # The receiving server's own protocol log ("mail.log") is the recipient's mailbox, not ours.
    ours = [r for r in caplog.records if r.name != "mail.log"]
    assert any("/auth/reset_password/[token]" in r.getMessage() for r in ours if r.name == "werkzeug")
    for record in ours:
        text = f"{record.getMessage()} {record.exc_text or ''} {record.args!r}"
        assert token.split(".")[2] not in text, record.name
