"""TLS, AUTH and timeouts against real aiosmtpd servers with a certificate made for the test."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_mailroom.clock import FrozenClock
from flask_mailroom.queue import OutboxMessage

from support.smtp import (
    PASSWORD,
    USERNAME,
    SMTPServer,
)

Queue = Callable[..., list[str]]
Rows = Callable[[], list[OutboxMessage]]


def point_at(app: Flask, server: SMTPServer, **settings: Any) -> None:
    """Send this app's mail to ``server`` with these extra settings."""
    app.config.update(server.config())
    app.config.update(settings)


def retry_now(clock: FrozenClock, rows: Rows) -> None:
    """Move the clock to when the (only) queued row is due again."""
    [row] = rows()
    assert row.status == "queued"
    clock.set(row.next_attempt_at)


def test_starttls_with_a_self_signed_certificate_is_refused_by_default(
        app: Flask, starttls: SMTPServer, certificate: tuple[Path, Path], clock: FrozenClock,
        deliver: Callable[[], int], queue_messages: Queue, rows: Rows) -> None:
    point_at(app, starttls, MAIL_USE_TLS=True, MAIL_USERNAME=USERNAME, MAIL_PASSWORD=PASSWORD)
    queue_messages(1)
    deliver()
    [row] = rows()
    assert row.status == "queued", "a configuration problem is retried, not given up"
    assert "CERTIFICATE_VERIFY_FAILED" in (row.last_error or "")
    assert starttls.messages == []

    app.config["MAIL_SSL_CAFILE"] = str(certificate[0])
    retry_now(clock, rows)
    assert deliver() == 1
    assert len(starttls.wait_for(1)) == 1
    assert rows()[0].status == "sent"


def test_a_wrong_password_is_a_temporary_failure(
        app: Flask, starttls: SMTPServer, certificate: tuple[Path, Path], clock: FrozenClock,
        deliver: Callable[[], int], queue_messages: Queue, rows: Rows) -> None:
    point_at(app, starttls, MAIL_USE_TLS=True, MAIL_SSL_CAFILE=str(certificate[0]),
             MAIL_USERNAME=USERNAME, MAIL_PASSWORD="wrong")
    queue_messages(1)
    deliver()
    [row] = rows()
    assert row.status == "queued"
    assert "535" in (row.last_error or "")
    app.config["MAIL_PASSWORD"] = PASSWORD
    retry_now(clock, rows)
    deliver()
    assert rows()[0].status == "sent"


def test_without_credentials_the_server_refuses_and_nothing_is_lost(
        app: Flask, starttls: SMTPServer, certificate: tuple[Path, Path],
        deliver: Callable[[], int], queue_messages: Queue, rows: Rows) -> None:
    point_at(app, starttls, MAIL_USE_TLS=True, MAIL_SSL_CAFILE=str(certificate[0]))
    queue_messages(1)
    deliver()
    [row] = rows()
    assert row.status == "queued"
    assert "530" in (row.last_error or "")


def test_implicit_tls_verifies_the_certificate_too(
        app: Flask, smtps: SMTPServer, certificate: tuple[Path, Path], clock: FrozenClock,
        deliver: Callable[[], int], queue_messages: Queue, rows: Rows) -> None:
    point_at(app, smtps, MAIL_USE_SSL=True)
    queue_messages(1)
    deliver()
    assert "CERTIFICATE_VERIFY_FAILED" in (rows()[0].last_error or "")
    app.config["MAIL_SSL_CAFILE"] = str(certificate[0])
    retry_now(clock, rows)
    deliver()
    assert len(smtps.wait_for(1)) == 1
    assert rows()[0].status == "sent"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port where connections are accepted by the kernel and then nothing is ever said."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


def test_a_server_that_never_answers_fails_within_the_timeout_and_is_retried(
        app: Flask, smtp: SMTPServer, silent_port: int, clock: FrozenClock,
        deliver: Callable[[], int], queue_messages: Queue, rows: Rows) -> None:
    app.config.update(MAIL_PORT=silent_port, MAIL_TIMEOUT=1)
    queue_messages(3)
    done = threading.Event()
    threading.Thread(target=lambda: (deliver(), done.set()), daemon=True).start()
    assert done.wait(30), "the drain must give up on a silent server instead of hanging"
    assert {r.status for r in rows()} == {"queued"}
    assert all("timed out" in (r.last_error or "") for r in rows())

    app.config["MAIL_PORT"] = smtp.port
    clock.set(max(r.next_attempt_at for r in rows()))
    assert deliver() == 3
    assert len(smtp.wait_for(3)) == 3
