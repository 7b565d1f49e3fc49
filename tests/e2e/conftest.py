"""Browser tests: the real app served on loopback, a real SMTP server, the delivery worker, Chromium.

Fixtures for every test under ``tests/e2e`` (they build on ``tests/conftest.py``):

``live_server``
    A ``LiveServer``: the test's ``app`` served by Werkzeug's ``make_server`` in a thread on a
    free 127.0.0.1 port, wired to a real aiosmtpd server (``.smtp``), with the delivery worker
    running in another thread, so mail queued by a request reaches ``.smtp`` on its own.
    ``live_server.url("/account/")`` gives an absolute URL. Stopped (server, worker, threads)
    after the test.
``app_config``
    Adds ``SERVER_NAME=127.0.0.1:<port>`` and plain ``http``, so that links in emails point at
    the live server and cookies work without TLS. Extend it in a test module with
    ``def app_config(app_config): return app_config | {...}``.
``db_backend``
    SQLite unless a test asks for PostgreSQL with
    ``@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)``: one browser run
    per test is enough.
``browser_type_launch_args``
    pytest-playwright's launch options, pointed at Debian's Chromium (``/usr/bin/chromium`` or
    ``$MAILROOM_CHROMIUM``), headless, without sandbox; never ``playwright install``. Use
    pytest-playwright's ``page`` / ``context`` / ``browser`` fixtures as usual.
``screenshot``
    ``screenshot(page, "what the step shows")`` saves ``e2e-artifacts/<test>/<NN>-<step>.png``
    (git-ignored) and returns the path.
``mail_to``
    ``mail_to(address, count=1)`` waits until ``count`` messages to ``address`` were delivered
    and returns them (``tests.support.smtp.Received``: ``.text()``, ``.html()``, ``.message``).
``console_errors``
    A list that collects the script errors and CSP violations of ``page`` (not HTTP error
    statuses, which tests assert themselves); assert it is empty at the end of a test.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_mailroom.engine.worker import Worker
from werkzeug.serving import BaseWSGIServer, make_server

from tests.support.services import in_ci
from tests.support.smtp import Received, SMTPServer

CHROMIUM = os.environ.get("MAILROOM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "e2e-artifacts"
WORKER_POLL_SECONDS = 0.05
MAIL_TIMEOUT_SECONDS = 10.0


class _Deferred:
    """A WSGI callable whose target is set after the socket is bound (the app needs the port)."""

    def __init__(self) -> None:
        self.target: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Forward to the application, its response closed however the connection ends."""
        assert self.target is not None, "live server used before its app was set"
        return _closed_after(self.target(environ, start_response))


def _closed_after(response: Iterable[bytes]) -> Iterator[bytes]:
    """Yield the response, then close it, even when the browser dropped the connection.

    Werkzeug reads what is left of the request before it closes the response, and that read
    raises when the browser has gone (a cancelled script fetch): the open static file was then
    left to the garbage collector (a ResourceWarning, an error here). When the body stops early
    this generator is closed as it is released, which closes the file.
    """
    try:
        yield from response
    finally:
        close = getattr(response, "close", None)
        if close is not None:
            close()


@dataclass
class LiveServer:
    """The app served over real HTTP, its SMTP server and its delivery worker."""

    app: Flask
    smtp: SMTPServer
    server: BaseWSGIServer
    worker: Worker
    threads: list[threading.Thread] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.server.server_port}"

    def url(self, path: str = "/") -> str:
        """An absolute URL on the live server."""
        return self.base_url + path


@pytest.fixture
def db_backend(request: pytest.FixtureRequest) -> str:
    """SQLite for browser tests unless the test parametrizes ``db_backend`` indirectly."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def live_socket() -> Iterator[tuple[BaseWSGIServer, _Deferred]]:
    """A threaded Werkzeug server bound to a free loopback port, not serving yet."""
    deferred = _Deferred()
    server = make_server("127.0.0.1", 0, deferred, threaded=True)
    yield server, deferred
    server.server_close()


@pytest.fixture
def app_config(live_socket: tuple[BaseWSGIServer, _Deferred]) -> dict[str, Any]:
    """Links in emails point at the live server; plain HTTP, so cookies are not Secure."""
    return {"SERVER_NAME": f"127.0.0.1:{live_socket[0].server_port}",
            "PREFERRED_URL_SCHEME": "http", "SESSION_COOKIE_SECURE": False,
            "REMEMBER_COOKIE_SECURE": False}


@pytest.fixture
def live_server(app: Flask, smtp: SMTPServer,
                live_socket: tuple[BaseWSGIServer, _Deferred]) -> Iterator[LiveServer]:
    """Serve ``app`` and run its delivery worker until the test ends."""
    server, deferred = live_socket
    deferred.target = app
    live = LiveServer(app=app, smtp=smtp, server=server, worker=Worker(app))
    live.threads = [
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                         name="e2e-http", daemon=True),
        threading.Thread(target=live.worker.run_forever, args=(WORKER_POLL_SECONDS,),
                         name="e2e-worker", daemon=True),
    ]
    for thread in live.threads:
        thread.start()
    yield live
    live.worker.stop.set()
    server.shutdown()
    for thread in live.threads:
        thread.join(timeout=15)
    assert not any(thread.is_alive() for thread in live.threads), "live server did not stop"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, headless and sandbox-free; skip locally (fail under CI) without it."""
    if not os.access(CHROMIUM, os.X_OK):
        message = f"Chromium not found at {CHROMIUM}"
        if in_ci():
            pytest.fail(f"{message}; under CI=true this is a failure, not a skip")
        pytest.skip(f"{message}; install Debian's chromium package")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS,
            "headless": True}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """Pages as a reader who asked for reduced motion sees them: Bootstrap's fades and colour
    transitions are off, so what a test measures (axe's contrast above all) is the settled page."""
    return {**browser_context_args, "reduced_motion": "reduce"}


def _slug(text: str) -> str:
    """A file-name-safe form of a test or step name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:80] or "step"


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """Save numbered full-page screenshots under ``e2e-artifacts/<test>/``."""
    folder = ARTIFACTS / _slug(request.node.name)
    for old in folder.glob("*.png"):
        old.unlink()
    counter = iter(range(1, 1000))

    def take(page: Any, step: str) -> Path:
        """Screenshot the page as it is now."""
        path = folder / f"{next(counter):02d}-{_slug(step)}.png"
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def mail_to(live_server: LiveServer) -> Callable[..., list[Received]]:
    """Wait for messages delivered to one address."""

    def wait(address: str, count: int = 1, timeout: float = MAIL_TIMEOUT_SECONDS) -> list[Received]:
        """The first ``count`` messages to ``address``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        wanted = address.lower()
        while True:
            found = live_server.smtp.find(lambda m: wanted in [r.lower() for r in m.rcpt_tos])
            if len(found) >= count or time.monotonic() >= deadline:
                assert len(found) >= count, f"{len(found)} of {count} messages to {address} arrived"
                return found[:count]
            live_server.smtp.wait_for(len(live_server.smtp.messages) + 1, timeout=0.2)

    return wait


def _is_script_error(message: Any) -> bool:
    """A console error other than an HTTP status (tests assert statuses themselves)."""
    return bool(message.type == "error" and not message.text.startswith("Failed to load resource"))


@pytest.fixture
def console_errors(page: Any) -> list[str]:
    """Script errors and CSP violations on ``page``; HTTP error statuses are left to the test."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if _is_script_error(message) else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors
