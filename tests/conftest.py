"""Fixtures shared by every suite: app, client, runner, db, smtp, redis, a frozen clock."""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_mailroom.clock import FrozenClock
from flask_mailroom.engine.worker import Worker
from flask_mailroom.models import metadata as mail_metadata
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.schema import sort_tables

from mailroom import create_app
from mailroom.extensions import db as _db
from mailroom.extensions import mail as _mail
from mailroom.models import User
from mailroom.services import accounts
from mailroom.state import state
from tests.e2e.deploy.report import register_summary
from tests.support import services
from tests.support.smtp import SMTPServer

DATABASES = ("sqlite", "postgresql")
# Under pytest-xdist (`make pytest` runs with -n), the tests whose node id starts with one of these
# run in one worker, in order: they share a fixture too costly to set up in every worker (the
# production-shaped deployment; Flask-Mailroom's wheel, built and installed in a virtual environment).
XDIST_GROUPS = {"tests/e2e/system/": "deployment",
                "flask-mailroom/tests/test_distribution.py": "distribution"}
TEST_SECRET = "test-secret-" + "k" * 32
FAST_HASH = "scrypt:1024:8:1"
START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


def base_config(database_uri: str) -> dict[str, Any]:
    """Configuration every test app starts from."""
    return {
        "MAILROOM_ENV": "testing",
        "SECRET_KEY": TEST_SECRET,
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "SERVER_NAME": "mailroom.test",
        "PREFERRED_URL_SCHEME": "https",
        "PASSWORD_HASH_METHOD": FAST_HASH,
        "MAIL_DEFAULT_SENDER": ("Mailroom", "noreply@mailroom.test"),
        "MAIL_WORKER_INPROCESS": False,
        "REDIS_URL": None,
        "RATELIMIT_STORAGE_URI": "memory://",
    }


# --- running in parallel ----------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    """The drills' and batteries' figures are repeated in the summary (collected from every worker)."""
    register_summary(config)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``-n``, xdist's load-group scheduling, with XDIST_GROUPS as groups besides the marks.

    Each group goes to one worker as a whole, the largest groups first; every other test goes out
    on its own, to whichever worker is free. (The groups are given here, by path, rather than as
    ``xdist_group`` marks: pytest 9.2's node ids no longer carry the group xdist 3.8 appends to
    them, pytest-xdist issue 1386, so marks alone no longer group anything.)
    """
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None
    from xdist.scheduler import LoadGroupScheduling

    class Grouped(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            """The group of a test: its path's in XDIST_GROUPS, else its mark's, else its own."""
            for prefix, group in XDIST_GROUPS.items():
                if nodeid.startswith(prefix):
                    return group
            return str(super()._split_scope(nodeid))

    return Grouped(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, hand out the slow tests first (the order is the same in every worker).

    The scheduler sends the groups first, then the other tests in collection order: a slow test
    left near the end would keep one worker busy while the others have nothing left to do.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# --- databases -------------------------------------------------------------------------------


def migrate_to_head(uri: str) -> None:
    """Apply every migration to an empty database, as `flask db upgrade` does."""
    app = create_app(base_config(uri))
    with app.app_context():
        upgrade()
        _mail.upgrade()
        _db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    migrate_to_head(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test run's own on the PostgreSQL server, migrated, dropped at the end."""
    services.require("PostgreSQL", services.POSTGRES_URL)
    admin = create_engine(services.POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"mailroom_test_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(services.POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        migrate_to_head(url)
        yield url
    finally:
        cleaner = CLEANERS.pop(url, None)
        if cleaner is not None:
            cleaner.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# One engine per database for emptying it between tests (disposed when the database is dropped).
CLEANERS: dict[str, Engine] = {}


def truncate_all(url: str) -> None:
    """Empty every table of the test database between tests, and restart its sequences.

    DELETE, children first, rather than TRUNCATE: on the few rows a test leaves it takes about 2 ms
    where TRUNCATE takes 80 (it gives every table new files), after each PostgreSQL test.
    """
    engine = CLEANERS.get(url)
    if engine is None:
        engine = CLEANERS[url] = create_engine(url, pool_size=1)
    every = sort_tables([*_db.metadata.sorted_tables, *mail_metadata.sorted_tables])
    with engine.begin() as conn:
        for table in reversed(every):
            conn.execute(table.delete())
        # Deleting the outbox appended its rows' removal to outbox_tally (a trigger): empty it too.
        conn.execute(text("DELETE FROM outbox_tally"))
        conn.execute(text("SELECT setval(seqrelid::regclass, seqstart, false) FROM pg_sequence"))


@pytest.fixture(params=DATABASES)
def db_backend(request: pytest.FixtureRequest) -> str:
    """Which database the test runs on; tests run on both unless they narrow this."""
    return str(request.param)


@pytest.fixture
def database_url(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    if db_backend == "sqlite":
        path = tmp_path / "mailroom.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    truncate_all(url)


# --- application -----------------------------------------------------------------------------


@pytest.fixture
def clock() -> FrozenClock:
    """The frozen clock every test app uses; move it with ``clock.advance(seconds)``."""
    return FrozenClock(START)


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Extra settings for this test's app; override the fixture to change them."""
    return {}


@pytest.fixture
def app(database_url: str, app_config: dict[str, Any], clock: FrozenClock,
        request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The application under test, with the frozen clock; wired to the SMTP server if one runs."""
    config = base_config(database_url)
    if "smtp" in request.fixturenames:
        config.update(request.getfixturevalue("smtp").config())
    if "redis_url" in request.fixturenames:
        config.update(request.getfixturevalue("redis_url"))
    config.update(app_config)
    application = create_app(config)
    state(application).clock = clock
    yield application
    with application.app_context():
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A runner for the app's CLI commands."""
    return app.test_cli_runner()


@pytest.fixture
def db(app: Flask) -> Iterator[Any]:
    """The database extension, inside an application context."""
    with app.app_context():
        yield _db


# --- real servers ----------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    """A real aiosmtpd server on loopback; apps in the same test deliver to it."""
    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url() -> Iterator[dict[str, Any]]:
    """Settings pointing at the real Redis with a key prefix of this test's own; keys removed after."""
    import redis

    services.require("Redis", services.REDIS_URL)
    prefix = f"mailroom-test-{secrets.token_hex(6)}:"
    yield {"REDIS_URL": services.REDIS_URL, "REDIS_KEY_PREFIX": prefix,
           "RATELIMIT_STORAGE_URI": services.REDIS_URL}
    client = redis.Redis.from_url(services.REDIS_URL)
    # Rate-limit keys carry the prefix inside the limits library's own ("LIMITS:LIMITER/...").
    keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis(redis_url: dict[str, Any]) -> Iterator[Any]:
    """A client of the real Redis server (keys of this test carry ``redis_url['REDIS_KEY_PREFIX']``)."""
    import redis as redis_lib

    client = redis_lib.Redis.from_url(redis_url["REDIS_URL"])
    yield client
    client.close()


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def deliver(app: Flask) -> Callable[[], int]:
    """Run the delivery worker once over what is due (``mail worker --burst``); returns the count."""
    return lambda: Worker(app).drain()


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    """Create an account directly through the service layer."""

    def make(username: str = "alice", email: str = "alice@example.com",
             password: str = "correct horse battery", confirmed: bool = True) -> User:
        with app.app_context():
            user = accounts.new_user(username, email, password)
            user.email_confirmed = confirmed
            _db.session.add(user)
            _db.session.commit()
            _db.session.refresh(user)
            _db.session.expunge(user)
            return user

    return make


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/") -> str:
    """The CSRF token of the client's session, read from a page as a browser would."""
    page = client.get(path).get_data(as_text=True)
    found = CSRF_META.search(page)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


@pytest.fixture
def login(client: FlaskClient) -> Callable[..., Any]:
    """Sign the test client in through the real sign-in form."""

    def sign_in(identifier: str = "alice", password: str = "correct horse battery") -> Any:
        token = csrf_token(client, "/auth/login")
        return client.post("/auth/login", data={"identifier": identifier, "password": password,
                                                "csrf_token": token})

    return sign_in
