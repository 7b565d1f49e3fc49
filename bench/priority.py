"""Account mail is not stuck behind an announcement: a reset's delay while 10,000 bulk copies drain.

Run: ``.venv/bin/python bench/priority.py [--messages 10000] [--workers 2] [--db auto|sqlite|postgresql]``.

It migrates a fresh database (PostgreSQL when reachable, else SQLite), adds the users, fans an
announcement out to them, starts real ``flask --app mailroom mail worker`` processes delivering
into an aiosmtpd server on loopback, and once a fifth of the copies has arrived requests a password
reset (``services.reset.request_reset``; any account email when that feature is absent). It prints
the time from the request to the reset's arrival, the same delay on an idle queue measured in the
same run (the baseline), and the bulk delivery rate. The last line is
``reset_delay_s=<seconds> bulk_rate=<messages per second>``. Every process it starts is stopped.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from common import postgres_reachable, scratch_database
from flask import Flask
from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parent.parent
FLASK = Path(sys.executable).parent / "flask"
HOST = "127.0.0.1"
TARGET = "forgetful@example.com"
FAST_HASH = "scrypt:1024:8:1"
POLL_SECONDS = "0.2"
DRAIN_TIMEOUT = 300.0
ARRIVAL_TIMEOUT = 60.0


@dataclass
class Sink:
    """aiosmtpd handler: counts bulk copies and timestamps every account email, per recipient."""

    bulk: int = 0
    first_bulk: float = 0.0
    last_bulk: float = 0.0
    account: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Record the arrival; bulk copies are the ones with a one-click unsubscribe header."""
        moment = time.monotonic()
        is_bulk = b"\nList-Unsubscribe-Post:" in bytes(envelope.content)
        with self.lock:
            if is_bulk:
                self.first_bulk = self.first_bulk or moment
                self.last_bulk = moment
                self.bulk += 1
            else:
                for rcpt in envelope.rcpt_tos:
                    self.account.setdefault(str(rcpt).lower(), []).append(moment)
        return "250 Message accepted"

    def arrivals(self, address: str) -> list[float]:
        """When account emails to ``address`` arrived."""
        with self.lock:
            return list(self.account.get(address, []))


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def environment(database_url: str, smtp_port: int) -> dict[str, str]:
    """Production settings for the app in this process and the worker processes alike."""
    env = {
        "MAILROOM_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48),
        "SERVER_NAME": "bench.mailroom.test", "PREFERRED_URL_SCHEME": "https",
        "DATABASE_URL": database_url, "REDIS_URL": "", "MAIL_SERVER": HOST,
        "MAIL_PORT": str(smtp_port), "MAIL_TIMEOUT": "30", "MAIL_WORKER_INPROCESS": "0",
        "MAIL_DEFAULT_SENDER": "Mailroom <noreply@bench.mailroom.test>",
        "PASSWORD_HASH_METHOD": FAST_HASH,
    }
    return {**os.environ, **env}


def make_app(env: dict[str, str]) -> Flask:
    """The application, configured exactly as the workers are."""
    os.environ.update(env)
    from mailroom import create_app

    return create_app()


def migrate_and_fill(app: Flask, count: int) -> None:
    """Apply the migrations, then add ``count`` subscribers and the user who will forget a password."""
    from flask_migrate import upgrade

    from mailroom.extensions import db, mail
    from mailroom.models import User
    from mailroom.services.passwords import hash_password
    from mailroom.state import now

    with app.app_context():
        upgrade()
        mail.upgrade()
        password_hash = hash_password("bench password 1234")

        def row(name: str, email: str, subscribed: bool) -> dict[str, Any]:
            return {"username": name, "username_key": name, "email": email, "email_key": email,
                    "password_hash": password_hash, "email_confirmed": True, "created_at": now(),
                    "is_admin": False, "subscribed": subscribed,
                    "unsubscribe_token": secrets.token_urlsafe(24)}

        rows = [row(f"reader{i}", f"reader{i}@example.com", True) for i in range(count)]
        # Not subscribed, so the only mail it gets is account mail.
        rows.append(row("forgetful", TARGET, False))
        db.session.execute(insert(User), rows)
        db.session.commit()


def fan_out(app: Flask) -> tuple[int, float]:
    """Write and fan out the announcement; return how many copies and the seconds it took."""
    from mailroom.services import announcements

    with app.app_context():
        announcement = announcements.create(
            "Spring release", "Our spring release is out. Read all about it on the site.",
            markdown="Our **spring release** is out. [Read all about it](https://example.com/spring).")
        started = time.perf_counter()
        result = announcements.send(announcement.id)
        return result.queued, time.perf_counter() - started


def account_email_request(app: Flask) -> Callable[[], None]:
    """What 'asking for a password reset' does here: the reset service, or any account email."""
    from mailroom.extensions import db

    if importlib.util.find_spec("mailroom.services.reset") is not None:
        from mailroom.services import reset

        def request() -> None:
            with app.app_context():
                reset.request_reset(TARGET, "bench-client")
                db.session.remove()
        return request

    from mailroom.mail.compose import Envelope, build_message, queue

    def notice() -> None:
        with app.app_context():
            queue(build_message(Envelope(subject="Account notice", recipients=[TARGET]), "Hello.", None))
            db.session.commit()
            db.session.remove()
    return notice


def queued_bulk(app: Flask) -> int:
    """Bulk copies not delivered yet."""
    from mailroom.extensions import db
    from mailroom.models import OutboxMessage

    with app.app_context():
        count = db.session.scalar(select(db.func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == "bulk", OutboxMessage.status.in_(["queued", "sending"])))
        db.session.remove()
        return int(count or 0)


def dispose(app: Flask) -> None:
    """Close this process's database connections, so the database can be dropped."""
    from mailroom.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """One real delivery worker process, in a process group of its own."""
    with log.open("ab") as out:
        return subprocess.Popen([str(FLASK), "--app", "mailroom", "mail", "worker", "--poll", POLL_SECONDS],
                                env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the worker's group, then SIGKILL it if it has not gone within ten seconds."""
    if process.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` every 10 ms until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def timed_request(request: Callable[[], None], sink: Sink) -> float:
    """Seconds from asking for the account email to its arrival at the server."""
    before = len(sink.arrivals(TARGET))
    started = time.monotonic()
    request()
    if not wait_until(lambda: len(sink.arrivals(TARGET)) > before, ARRIVAL_TIMEOUT):
        raise RuntimeError(f"the account email did not arrive within {ARRIVAL_TIMEOUT:.0f} s")
    return sink.arrivals(TARGET)[before] - started


def run(messages: int, workers: int, kind: str, tmp: Path) -> str:
    """The whole measurement; returns the last line."""
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname=HOST, port=port)
    controller.start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with scratch_database(kind) as url:
            env = environment(url, port)
            app = make_app(env)
            migrate_and_fill(app, messages)
            queued, fan_seconds = fan_out(app)
            print(f"database={kind} workers={workers} messages={queued}")
            print(f"fan-out: {queued} personalised copies queued in {fan_seconds:.1f} s "
                  f"({queued / fan_seconds:.0f}/s)")
            request = account_email_request(app)
            processes = [start_worker(env, tmp / f"worker{i}.log") for i in range(workers)]
            if not wait_until(lambda: sink.bulk >= queued // 5, DRAIN_TIMEOUT):
                raise RuntimeError("the workers delivered too little; see the worker logs")
            ahead = queued_bulk(app)
            loaded = timed_request(request, sink)
            print(f"reset while draining: arrived {loaded:.3f} s after the request, "
                  f"with {ahead} bulk copies still queued")
            if not wait_until(lambda: sink.bulk >= queued, DRAIN_TIMEOUT):
                print(f"warning: only {sink.bulk} of {queued} copies arrived in time")
            rate = (sink.bulk - 1) / max(sink.last_bulk - sink.first_bulk, 1e-9)
            print(f"bulk: {sink.bulk} copies delivered at {rate:.0f} messages/s")
            idle = timed_request(request, sink)
            print(f"baseline, same run, idle queue: reset arrived {idle:.3f} s after the request "
                  f"(loaded/idle = {loaded / idle:.2f})")
            print(f"first-in-first-out would have made it wait behind {ahead} copies: "
                  f"about {ahead / rate:.1f} s (priority saves {ahead / rate / loaded:.0f}x)")
            for process in processes:
                stop_worker(process)
            dispose(app)
    finally:
        for process in processes:
            stop_worker(process)
        controller.stop()
    return f"reset_delay_s={loaded:.3f} bulk_rate={rate:.1f}"


def main() -> None:
    """Parse the options, run in a temporary directory, clean everything up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", choices=["auto", "sqlite", "postgresql"], default="auto")
    options = parser.parse_args()
    kind = options.db if options.db != "auto" else ("postgresql" if postgres_reachable() else "sqlite")
    tmp = Path(tempfile.mkdtemp(prefix="mailroom-priority-"))
    try:
        last = run(options.messages, options.workers, kind, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(last)


if __name__ == "__main__":
    main()
