"""Behind a real proxy hop: the client address comes from the trusted hops only (PROXY_FIX_X_*).

The app is served over HTTP with a reverse proxy in front that appends the peer it sees to
X-Forwarded-For; the browsers connect to it from loopback addresses of their own (127.0.0.2,
127.0.0.3), so they are two clients to the proxy and, with one trusted hop, to the app.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from mailroom import create_app, error_reports
from mailroom.models import User
from tests.conftest import TEST_SECRET, base_config
from tests.support.outbox import outbox
from tests.support.proxy import Browser, Reply, reverse_proxy, serve
from tests.support.services import free_port

GUNICORN = Path(sys.executable).parent / "gunicorn"

PASSWORD = "correct horse battery"
WRONG = "not the password at all"
ONE_HOP = {"PROXY_FIX_X_FOR": 1, "PROXY_FIX_X_PROTO": 1}
# Three failures from one client lock it out (each to its own address, so no account is paused).
THROTTLE = {"SIGNIN_FREE_FAILURES": 3, "SIGNIN_CLIENT_LOCKOUT_AFTER": 3,
            "RATELIMIT_RESET_PER_CLIENT": "2 per minute"}
FORGED = {"X-Forwarded-For": "198.51.100.77"}

# One database is enough: what is under test is the address the app reads, not the storage.
pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


@dataclass
class Site:
    """The app behind the proxy: the proxy's port, and the app's own port (no proxy)."""

    proxy_port: int
    app_port: int

    def browser(self, address: str, through_proxy: bool = True) -> Browser:
        """A browser at ``address`` (a loopback address of its own)."""
        return Browser(self.proxy_port if through_proxy else self.app_port, address)


@pytest.fixture
def site(app: Flask) -> Iterator[Site]:
    """The test's app served on loopback with a reverse proxy in front."""
    with serve(app) as app_port, reverse_proxy(app_port) as proxy_port:
        yield Site(proxy_port, app_port)


def sign_in(browser: Browser, identifier: str = "alice", password: str = PASSWORD,
            headers: dict[str, str] | None = None) -> Reply:
    """One sign-in through the form."""
    return browser.post_form("/auth/login", "/auth/login", {"identifier": identifier, "password": password},
                             headers)


def fail_until_refused(browser: Browser, headers: dict[str, str] | None = None) -> list[int]:
    """Wrong passwords for ever new addresses from one browser; the statuses (the last a refusal)."""
    statuses = [sign_in(browser, f"guess{n}@example.com", WRONG, headers).status for n in range(4)]
    assert statuses == [400, 400, 400, 429]
    return statuses


def ask_for_resets(browser: Browser, count: int, headers: dict[str, str] | None = None) -> None:
    """Post the reset request form ``count`` times, each for an address of its own."""
    for n in range(count):
        email = f"{browser.address.replace('.', '-')}-{n}@example.com"
        reply = browser.post_form("/auth/reset_password_request", "/auth/reset_password_request",
                                  {"email": email}, headers)
        assert reply.status == 302


def queued_resets(app: Flask) -> list[str]:
    """The addresses reset emails were queued for (a request over the per-client limit queues none)."""
    return [row.recipients[0] for row in outbox(app) if row.template == "reset_password"]


def session_clients(browser: Browser) -> list[str]:
    """The addresses the account page lists for the signed-in sessions."""
    page = browser.get("/account/")
    assert page.status == 200
    return [part.split("</span>", 1)[0] for part in page.text.split('class="session-client">')[1:]]


@pytest.mark.parametrize("app_config", [ONE_HOP | THROTTLE])
def test_two_clients_behind_the_proxy_are_throttled_apart(
        app: Flask, site: Site, make_user: Callable[..., User], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    make_user()
    guesser, owner = site.browser("127.0.0.2"), site.browser("127.0.0.3")
    fail_until_refused(guesser)
    # A header the guesser forges is the first of the list: the trusted hop's entry is the last.
    assert sign_in(guesser, headers=FORGED).status == 429
    assert sign_in(owner).status == 302
    assert session_clients(owner) == ["127.0.0.3"]
    access = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any(line.startswith("127.0.0.2 ") and "POST /auth/login" in line for line in access)
    refusals = [r.getMessage() for r in caplog.records if "sign-in refused" in r.getMessage()]
    assert refusals
    assert all("client 127.0.0.2," in line for line in refusals)
    assert not any("198.51.100.77" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("app_config", [ONE_HOP])
def test_error_reports_name_the_client_behind_the_proxy(app: Flask) -> None:
    @app.get("/report-probe")
    def report_probe() -> str:
        """What an error report would say of this request."""
        return error_reports.request_line() or ""

    with serve(app) as app_port, reverse_proxy(app_port) as proxy_port:
        reply = Browser(proxy_port, "127.0.0.2").get("/report-probe", FORGED)
    assert reply.text == "GET /report-probe (endpoint report_probe) from 127.0.0.2"


@pytest.mark.parametrize("app_config", [ONE_HOP | THROTTLE])
def test_the_reset_limit_counts_each_client_behind_the_proxy(app: Flask, site: Site) -> None:
    first, second = site.browser("127.0.0.2"), site.browser("127.0.0.3")
    ask_for_resets(first, 3)
    ask_for_resets(second, 2, FORGED)
    assert queued_resets(app) == ["127-0-0-2-0@example.com", "127-0-0-2-1@example.com",
                                  "127-0-0-3-0@example.com", "127-0-0-3-1@example.com"]


@pytest.mark.parametrize("app_config", [THROTTLE])
def test_without_a_trusted_hop_every_client_is_the_proxy(
        app: Flask, site: Site, make_user: Callable[..., User], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="werkzeug")
    make_user()
    fail_until_refused(site.browser("127.0.0.2"))
    assert sign_in(site.browser("127.0.0.3")).status == 429
    access = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert access
    assert all(line.startswith("127.0.0.1 ") for line in access)


@pytest.mark.parametrize("app_config", [THROTTLE])
def test_without_a_trusted_hop_a_forged_header_changes_nothing(
        app: Flask, site: Site, make_user: Callable[..., User]) -> None:
    make_user()
    # Straight to the app, each request claiming another client: all are the one peer.
    direct = site.browser("127.0.0.2", through_proxy=False)
    for n in range(3):
        forged = {"X-Forwarded-For": f"203.0.113.{n}"}
        assert sign_in(direct, f"guess{n}@example.com", WRONG, forged).status == 400
    assert sign_in(direct, headers={"X-Forwarded-For": "203.0.113.99"}).status == 429
    ask_for_resets(direct, 3, FORGED)
    assert len(queued_resets(app)) == 2
    owner = site.browser("127.0.0.3", through_proxy=False)
    assert sign_in(owner, headers=FORGED).status == 302
    assert session_clients(owner) == ["127.0.0.3"]


def test_proxy_fix_wraps_the_app_only_when_a_hop_is_trusted(app: Flask) -> None:
    assert not isinstance(app.wsgi_app, ProxyFix)
    trusting = create_app({**base_config(app.config["SQLALCHEMY_DATABASE_URI"]), **ONE_HOP,
                           "PROXY_FIX_X_PREFIX": 2})
    assert isinstance(trusting.wsgi_app, ProxyFix)
    assert (trusting.wsgi_app.x_for, trusting.wsgi_app.x_proto, trusting.wsgi_app.x_host,
            trusting.wsgi_app.x_port, trusting.wsgi_app.x_prefix) == (1, 1, 0, 0, 2)


def test_gunicorns_access_log_names_the_client(database_url: str, tmp_path: Path) -> None:
    # gunicorn as the README runs it; ProxyFix rewrites the environ its access log reads (%(h)s).
    port = free_port()
    env = {**os.environ, "MAILROOM_ENV": "testing", "SECRET_KEY": TEST_SECRET, "DATABASE_URL": database_url,
           "SERVER_NAME": "mailroom.test", "MAILROOM_INSTANCE_PATH": str(tmp_path), "FLASK_SKIP_DOTENV": "1",
           "MAIL_WORKER_INPROCESS": "0", "PROXY_FIX_X_FOR": "1", "PROXY_FIX_X_PROTO": "1"}
    argv = [str(GUNICORN), "--preload", "--workers", "1", "--bind", f"127.0.0.1:{port}",
            "--access-logfile", "-", "--error-logfile", "-", "mailroom.wsgi:app"]
    server = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        started = []
        for line in server.stdout:  # the socket is bound once this is printed; requests queue on it
            started.append(line)
            if "Listening at" in line:
                break
        assert "Listening at" in started[-1], "".join(started)
        with reverse_proxy(port) as proxy_port:
            assert Browser(proxy_port, "127.0.0.2").get("/auth/login", FORGED).status == 200
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    access = [line for line in output.splitlines() if "GET /auth/login" in line]
    assert len(access) == 1, output
    assert access[0].startswith("127.0.0.2 - - [")
