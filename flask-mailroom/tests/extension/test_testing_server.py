"""``flask_mailroom.testing`` as its documentation shows a host using it: the public server, on a
port of its own choosing, receives what the worker delivers, and fails, refuses and checks logins
as told."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from flask_mailroom import Mail, Message
from flask_mailroom.engine import Worker
from flask_mailroom.store import state
from flask_mailroom.testing import SMTPServer, self_signed_certificate

from support.outbox import outbox_rows


@pytest.fixture
def server() -> Iterator[SMTPServer]:
    """The public server, as a host's fixture starts it (no port given)."""
    started = SMTPServer().start()
    yield started
    started.stop()


def send(app: Flask, *recipients: str) -> None:
    """One message to each recipient, through the host's ``Mail``."""
    mail: Mail = state(app).mail
    with app.app_context():
        for address in recipients:
            mail.send(Message("Your link", recipients=[address], body=f"Hello {address}"))


def test_the_server_receives_what_the_worker_delivers(bare_app: Flask, server: SMTPServer) -> None:
    bare_app.config.update(server.config())
    send(bare_app, "ann@example.com", "bob@example.com")
    assert Worker(bare_app).drain() == 2
    received = server.wait_for(2)
    assert sorted(r.rcpt_tos[0] for r in received) == ["ann@example.com", "bob@example.com"]
    assert {r.text().strip() for r in received} == {"Hello ann@example.com", "Hello bob@example.com"}
    assert server.connections >= 1


def test_a_scripted_failure_and_a_refused_recipient_reach_the_outbox(
        bare_app: Flask, server: SMTPServer) -> None:
    bare_app.config.update(server.config())
    server.fail_data("451 4.3.0 try again later")
    server.refuse_recipient("gone@example.com")
    send(bare_app, "ann@example.com", "gone@example.com")
    Worker(bare_app).drain()
    assert server.messages == []
    assert [r.rcpt_tos for r in server.rejected] == [["ann@example.com"]]
    outcomes = sorted((r.status, r.recipients, r.last_error) for r in outbox_rows(bare_app))
    assert outcomes == [("failed", ["gone@example.com"], "gone@example.com: 550 No such user"),
                        ("queued", ["ann@example.com"], "451 4.3.0 try again later")]


def test_starttls_with_a_login_accepts_only_that_login(
        bare_app: Flask, tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    secure = SMTPServer.starttls(cert, key, "host-app", "s3cret").start()
    try:
        bare_app.config.update(secure.config(), MAIL_USE_TLS=True, MAIL_SSL_CAFILE=str(cert),
                               MAIL_USERNAME="host-app", MAIL_PASSWORD="wrong")
        send(bare_app, "ann@example.com")
        Worker(bare_app).drain()
        assert secure.messages == []
        assert "535" in (outbox_rows(bare_app)[0].last_error or "")
        bare_app.config["MAIL_PASSWORD"] = "s3cret"
        send(bare_app, "bob@example.com")
        Worker(bare_app).drain()  # the refused login charged ann's message no attempt
        assert sorted(r.rcpt_tos[0] for r in secure.wait_for(2)) == ["ann@example.com", "bob@example.com"]
    finally:
        secure.stop()
