"""Password reset under gunicorn: request latency, known/unknown timing, and mail that survives a kill.

Run: ``.venv/bin/python bench/reset_latency.py``. Starts gunicorn (2 workers), a mail worker and
an aiosmtpd sink that waits one second before accepting each message, all on loopback, then:

1. the median latency of 300 reset requests over the median of 300 GETs of the sign-in page,
   interleaved (target <= 1.5);
2. the difference of medians between known and unknown addresses over 400 alternating reset
   requests, in milliseconds (target <= 0.5);
3. 20 reset requests, then SIGKILL of gunicorn's whole process group right after the last
   response: how many of the 20 emails still arrive (target 20).

Production settings on a temporary SQLite file migrated with ``flask db upgrade``; the rate limits
and the email budget stay on (memory://) but are raised so the bench is never throttled. At one
second per message the sink would take minutes over the ~500 emails of parts 1-2, so the worker is
stopped and those undelivered rows are dropped before part 3, which counts only its own 20.

The last line is ``reset/login=<ratio> known-unknown_ms=<diff> after_kill=<n>/20``.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
PAIRS = 300
ALTERNATING = 400
KILL_BATCH = 20
SINK_DELAY = 1.0
KNOWN, UNKNOWN, CRASH = "known@example.com", "unknown@example.com", "crash@example.com"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class SlowSink:
    """aiosmtpd handler: waits SINK_DELAY seconds before accepting each message, counts by recipient."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Wait, then accept and record the recipients."""
        await asyncio.sleep(SINK_DELAY)
        with self.lock:
            self.received.extend(str(r).lower() for r in envelope.rcpt_tos)
        return "250 Message accepted"

    def count(self, address: str) -> int:
        """How many messages to ``address`` were accepted."""
        with self.lock:
            return self.received.count(address)


def environment(tmp: Path, web_port: int, smtp_port: int) -> dict[str, str]:
    """Production settings on loopback, with limits raised so the bench is not throttled."""
    env = dict(os.environ)
    env.update({
        "MAILROOM_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48),
        "SERVER_NAME": f"{HOST}:{web_port}", "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "MAIL_SERVER": HOST, "MAIL_PORT": str(smtp_port), "MAIL_TIMEOUT": "30",
        "RATELIMIT_RESET_PER_CLIENT": "1000000 per minute",
        "RATELIMIT_RESET_PER_ADDRESS": "1000000 per hour", "ACCOUNT_EMAILS_PER_HOUR": "1000000",
        # Small claims, so the worker moves on quickly after the bench empties the queue.
        "OUTBOX_BATCH_SIZE": "5", "REDIS_URL": "",
    })
    return env


def prepare_database(env: dict[str, str]) -> None:
    """Migrate with the real command, then add the accounts the bench asks about."""
    for schema in ("db", "mail"):
        subprocess.run([str(BIN / "flask"), "--app", "mailroom", schema, "upgrade"], env=env, check=True,
                       cwd=ROOT, capture_output=True)
    code = (
        "from mailroom import create_app\n"
        "from mailroom.extensions import db\n"
        "from mailroom.services.accounts import new_user\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        f"    for name, email in (('known', {KNOWN!r}), ('crash', {CRASH!r})):\n"
        "        db.session.add(new_user(name, email, 'bench password 1234'))\n"
        "    db.session.commit()\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT, capture_output=True)


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a process in a process group of its own, output to a log file."""
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, wait: float = 10.0) -> None:
    """Signal the process group, then make sure it is gone."""
    if process.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(wait)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def expect(status: int, wanted: int) -> None:
    """Stop the bench when a reply is not what a working site sends."""
    if status != wanted:
        raise RuntimeError(f"HTTP {status}, expected {wanted}")


class Client:
    """One browser session: a cookie and its CSRF token, one connection per request."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""
        self.csrf = ""

    def request(self, method: str, path: str, body: str | None = None) -> tuple[float, int, bytes,
                                                                              str | None]:
        """Send one request; return seconds taken, status, body and any Set-Cookie."""
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        connection = http.client.HTTPConnection(HOST, self.port, timeout=30)
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        connection.close()
        return elapsed, response.status, data, response.getheader("Set-Cookie")

    def open_session(self) -> None:
        """Fetch the request form, keeping the session cookie and its CSRF token."""
        _, status, data, cookie = self.request("GET", "/auth/reset_password_request")
        found = CSRF_META.search(data.decode())
        if status != 200 or not cookie or not found:
            raise RuntimeError(f"no session from the request form (status {status})")
        self.cookie = cookie.split(";", 1)[0]
        self.csrf = found.group(1)

    def sign_in_page(self) -> float:
        """GET the sign-in page; the seconds it took."""
        elapsed, status, _, _ = self.request("GET", "/auth/login")
        expect(status, 200)
        return elapsed

    def reset(self, address: str) -> float:
        """POST a reset request; the seconds it took. The session cookie is kept as it was."""
        body = urlencode({"email": address, "csrf_token": self.csrf})
        elapsed, status, _, _ = self.request("POST", "/auth/reset_password_request", body)
        expect(status, 302)
        return elapsed


def wait_until(condition: Any, timeout: float, step: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


def answering(port: int) -> bool:
    """Whether the web server answers the sign-in page."""
    try:
        return Client(port).request("GET", "/auth/login")[1] == 200
    except OSError:
        return False


def ms(seconds: float) -> float:
    """Seconds to milliseconds."""
    return seconds * 1000


def latency_ratio(client: Client) -> float:
    """(1) median reset request over median sign-in GET, interleaved, order alternating."""
    resets: list[float] = []
    logins: list[float] = []
    for i in range(PAIRS):
        if i % 2:
            resets.append(client.reset(KNOWN))
            logins.append(client.sign_in_page())
        else:
            logins.append(client.sign_in_page())
            resets.append(client.reset(KNOWN))
    reset_median, login_median = statistics.median(resets), statistics.median(logins)
    print(f"(1) reset request median {ms(reset_median):.2f} ms, sign-in page median "
          f"{ms(login_median):.2f} ms over {PAIRS} each")
    return reset_median / login_median


def known_unknown(client: Client) -> float:
    """(2) difference of medians, known minus unknown, over alternating requests (ms)."""
    known: list[float] = []
    unknown: list[float] = []
    for i in range(ALTERNATING):
        (known if i % 2 == 0 else unknown).append(client.reset(KNOWN if i % 2 == 0 else UNKNOWN))
    known_median, unknown_median = statistics.median(known), statistics.median(unknown)
    print(f"(2) known median {ms(known_median):.3f} ms, unknown median {ms(unknown_median):.3f} ms "
          f"over {ALTERNATING // 2} each")
    return ms(known_median - unknown_median)


def empty_queue(database: Path) -> int:
    """Drop the undelivered mail of parts 1-2 (a second each at the sink) before part 3."""
    with sqlite3.connect(database, timeout=15) as connection:
        deleted = connection.execute("DELETE FROM outbox WHERE status != 'sent'").rowcount
    connection.close()
    return int(deleted)


def kill_after_requests(client: Client, web: subprocess.Popen[bytes]) -> float:
    """(3) KILL_BATCH reset requests, then SIGKILL gunicorn's process group; ms from reply to kill."""
    for _ in range(KILL_BATCH):
        client.reset(CRASH)
    replied = time.perf_counter()
    os.killpg(web.pid, signal.SIGKILL)
    killed = time.perf_counter()
    web.wait()
    return ms(killed - replied)


@contextmanager
def sink() -> Iterator[tuple[SlowSink, int]]:
    """The slow SMTP server on loopback."""
    handler, port = SlowSink(), free_port()
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def run(tmp: Path) -> str:
    """Everything, returning the summary line."""
    web_port = free_port()
    with sink() as (smtp, smtp_port):
        env = environment(tmp, web_port, smtp_port)
        prepare_database(env)
        gunicorn = [str(BIN / "gunicorn"), "-w", "2", "-b", f"{HOST}:{web_port}", "mailroom.wsgi:app"]
        worker_command = [str(BIN / "flask"), "--app", "mailroom", "mail", "worker", "--poll", "0.2"]
        web = start(gunicorn, env, tmp / "gunicorn.log")
        worker = start(worker_command, env, tmp / "worker.log")
        try:
            if not wait_until(lambda: answering(web_port), 30):
                raise RuntimeError("gunicorn did not answer: " + (tmp / "gunicorn.log").read_text())
            print(f"load average before the run: {' '.join(map(str, os.getloadavg()))} "
                  f"on {os.cpu_count()} CPUs")
            client = Client(web_port)
            client.open_session()
            for _ in range(20):  # warm both gunicorn workers
                client.sign_in_page()
                client.reset(UNKNOWN)
            ratio = latency_ratio(client)
            difference = known_unknown(client)
            stop(worker)
            print(f"    dropped {empty_queue(tmp / 'bench.sqlite3')} undelivered messages of parts 1-2")
            worker = start(worker_command, env, tmp / "worker.log")
            gap = kill_after_requests(client, web)
            wait_until(lambda: smtp.count(CRASH) >= KILL_BATCH, KILL_BATCH * SINK_DELAY + 30)
            delivered = smtp.count(CRASH)
            print(f"(3) gunicorn group killed {gap:.2f} ms after the last reply; {delivered}/"
                  f"{KILL_BATCH} emails arrived")
        finally:
            stop(web, signal.SIGKILL)
            stop(worker)
    return f"reset/login={ratio:.2f} known-unknown_ms={difference:.3f} after_kill={delivered}/{KILL_BATCH}"


def main() -> None:
    """Run in a temporary directory that is removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="mailroom-bench-"))
    try:
        summary = run(tmp)
    except BaseException:
        for log in sorted(tmp.glob("*.log")):
            print(f"--- {log.name} (last lines)\n" + "\n".join(log.read_text().splitlines()[-40:]))
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(summary)


if __name__ == "__main__":
    main()
