"""Fixtures of Flask-Mailroom's own suite: minimal Flask apps (with or without Flask-SQLAlchemy) on
SQLite and PostgreSQL, a real SMTP server, a frozen clock, and the worker run once."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_sqlalchemy import SQLAlchemy

from flask_mailroom import Mail
from flask_mailroom.clock import FrozenClock
from flask_mailroom.engine import Worker
from flask_mailroom.queue import OutboxMessage
from flask_mailroom.store import state

from support import databases, services
from support.apps import base_config, minimal_app
from support.outbox import outbox_rows, queue_many
from support.smtp import PASSWORD, USERNAME, SMTPServer, self_signed_certificate

DATABASES = ("sqlite", "postgresql")
START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


# --- databases -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this run's own (and of this xdist worker's) on the PostgreSQL server; dropped at
    the end. Skipped without the server, a failure under CI=true."""
    with databases.postgres_database() as url:
        yield url


@pytest.fixture(params=DATABASES)
def db_backend(request: pytest.FixtureRequest) -> str:
    """Which database the test runs on; tests run on both unless they narrow this."""
    return str(request.param)


@pytest.fixture
def database_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database for one test: a new SQLite file, or the run's PostgreSQL database, left as
    it was found afterwards (mail tables emptied, a host's tables dropped)."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'mail.sqlite3'}"
        return
    url = request.getfixturevalue("postgres_url")
    databases.reset(url)
    yield url
    databases.reset(url)


@pytest.fixture
def empty_database_url(db_backend: str, tmp_path: Path) -> Iterator[str]:
    """A database of the test's very own, with no table at all (a host about to set itself up)."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'host.sqlite3'}"
        return
    with databases.postgres_database("flask_mailroom_host") as url:
        yield url


# --- applications ----------------------------------------------------------------------------


@pytest.fixture
def clock() -> FrozenClock:
    """The frozen clock the test apps read (``mail.init_app(app, clock=...)``); ``clock.advance(s)``."""
    return FrozenClock(START)


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Extra settings for this test's app; override the fixture (or parametrize it) to change them."""
    return {}


def _settings(request: pytest.FixtureRequest, app_config: dict[str, Any], **database: str) -> dict[str, Any]:
    """The test app's settings: the base, the database, the SMTP server when the test has one, its own."""
    config = base_config(**database)
    if "smtp" in request.fixturenames:
        config.update(request.getfixturevalue("smtp").config())
    if "redis_url" in request.fixturenames:
        config.update(request.getfixturevalue("redis_url"))
    config.update(app_config)
    return config


@pytest.fixture
def app(database_url: str, app_config: dict[str, Any], clock: FrozenClock,
        request: pytest.FixtureRequest) -> Iterator[Flask]:
    """A minimal Flask app: Flask-SQLAlchemy and ``Mail()``, the mail tables made by ``mail.upgrade()``,
    the frozen clock; sending to the ``smtp`` server when the test has one."""
    application, db, mail = minimal_app(_settings(request, app_config, SQLALCHEMY_DATABASE_URI=database_url),
                                        clock=clock)
    assert db is not None
    with application.app_context():
        mail.upgrade()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def bare_app(database_url: str, app_config: dict[str, Any], clock: FrozenClock,
             request: pytest.FixtureRequest) -> Iterator[Flask]:
    """A minimal Flask app without Flask-SQLAlchemy: ``Mail()`` with MAILROOM_DATABASE_URL, its tables
    made by ``mail.upgrade()``, the frozen clock; sending to the ``smtp`` server when there is one."""
    application, _, mail = minimal_app(_settings(request, app_config, MAILROOM_DATABASE_URL=database_url),
                                       sqlalchemy=False, clock=clock)
    with application.app_context():
        mail.upgrade()
    yield application
    state(application).dispose()


@pytest.fixture
def mail(app: Flask) -> Mail:
    """The app's ``Mail`` extension."""
    found: Mail = state(app).mail
    return found


@pytest.fixture
def db(app: Flask) -> Iterator[SQLAlchemy]:
    """The app's Flask-SQLAlchemy extension, inside an application context."""
    with app.app_context():
        yield app.extensions["sqlalchemy"]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A runner for the app's CLI commands (``flask mail ...``)."""
    return app.test_cli_runner()


@pytest.fixture
def deliver(app: Flask) -> Callable[[], int]:
    """Run the delivery worker once over what is due (``mail worker --burst``); returns the count."""
    return lambda: Worker(app).drain()


@pytest.fixture
def queue_messages(app: Flask) -> Callable[..., list[str]]:
    """``queue_messages(count, prefix=..., **envelope)`` -> the Message-IDs, committed."""
    return lambda count, prefix="msg", **envelope: queue_many(app, count, prefix, **envelope)


@pytest.fixture
def rows(app: Flask) -> Callable[[], list[OutboxMessage]]:
    """``rows()`` -> every outbox row now, in id order."""
    return lambda: outbox_rows(app)


# --- real servers ----------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    """A real aiosmtpd server on loopback; the test's app delivers to it."""
    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made now: (cert, key)."""
    return self_signed_certificate(tmp_path)


@pytest.fixture
def starttls(certificate: tuple[Path, Path]) -> Iterator[SMTPServer]:
    """A server that demands STARTTLS, then AUTH."""
    server = SMTPServer.starttls(*certificate, USERNAME, PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture
def smtps(certificate: tuple[Path, Path]) -> Iterator[SMTPServer]:
    """A server that speaks TLS from the first byte."""
    server = SMTPServer.implicit_tls(*certificate).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url() -> Iterator[dict[str, Any]]:
    """Settings pointing at the real Redis with a key prefix of this test's own; its keys removed after."""
    import redis

    services.require("Redis", services.REDIS_URL)
    prefix = f"flask-mailroom-test-{secrets.token_hex(6)}:"
    yield {"REDIS_URL": services.REDIS_URL, "REDIS_KEY_PREFIX": prefix}
    client = redis.Redis.from_url(services.REDIS_URL)
    keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; any still running at the end are killed and reaped."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(30)
