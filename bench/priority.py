"""The delivery engine at a provider's pace: bulk rate, account mail while an announcement drains, memory.

Run: ``.venv/bin/python bench/priority.py [--messages 10000] [--workers 2] [--smtp-latency 0.1]
[--connections 8] [--baseline-messages 300] [--db auto|sqlite|postgresql]``.

It migrates a fresh database (PostgreSQL when reachable, else SQLite), adds the users, fans an
announcement out to them and delivers it with real ``flask --app mailroom mail worker`` processes
into an aiosmtpd sink on loopback that waits ``--smtp-latency`` seconds in DATA on each connection
independently (as a provider does). In the same run:

1. baseline: the first ``--baseline-messages`` copies are delivered by the same number of workers
   with one connection each (``MAIL_CONNECTIONS=1``, the engine before issue 10);
2. the workers are restarted with ``--connections`` connections each and deliver the rest: the bulk
   rate, against the target ``0.8 x total connections / latency`` and against the baseline;
3. once a fifth of the copies has arrived, a password reset is requested
   (``services.reset.request_reset``): seconds from the request to the server's 250;
4. after the drain, the same on an idle queue (median of ``--idle-samples`` requests): the baseline
   of 3, and the idle latency itself (target: 50 ms median on PostgreSQL at latency 0);
5. each worker's peak resident memory (VmHWM).

The last line is ``reset_delay_s=<s> idle_median_s=<s> bulk_rate=<msg/s> target=<msg/s>
bulk/baseline=<ratio> peak_mb=<max>``. Every process it starts is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
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
POLL_SECONDS = "1.0"  # idle workers are woken by NOTIFY on PostgreSQL; polling is the fallback
DRAIN_TIMEOUT = 300.0
ARRIVAL_TIMEOUT = 60.0


@dataclass
class Sink:
    """aiosmtpd handler: waits ``latency`` in DATA, counts bulk copies, timestamps account emails' 250."""

    latency: float = 0.0
    bulk: int = 0
    first_bulk: float = 0.0
    last_bulk: float = 0.0
    account: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Wait as a provider does, then record the 250; bulk copies carry a one-click unsubscribe header."""
        if self.latency:
            await asyncio.sleep(self.latency)
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
    """Production settings for the app in this process and the worker processes alike (no limits)."""
    env = {
        "MAILROOM_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48),
        "SERVER_NAME": "bench.mailroom.test", "PREFERRED_URL_SCHEME": "https",
        "DATABASE_URL": database_url, "REDIS_URL": "", "MAIL_SERVER": HOST,
        "MAIL_PORT": str(smtp_port), "MAIL_TIMEOUT": "30", "MAIL_WORKER_INPROCESS": "0",
        "MAIL_DEFAULT_SENDER": "Mailroom <noreply@bench.mailroom.test>",
        "PASSWORD_HASH_METHOD": FAST_HASH, "ACCOUNT_EMAILS_PER_HOUR": "100000",
        "RATELIMIT_ENABLED": "0", "RATELIMIT_RESET_PER_ADDRESS": "100000 per hour",
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

    from flask_mailroom.compose.outbox import Envelope, build_message, queue

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


def start_worker(env: dict[str, str], log: Path, connections: int) -> subprocess.Popen[bytes]:
    """A real delivery worker process with ``connections`` SMTP connections, in its own process group."""
    settings = {**env, "MAIL_CONNECTIONS": str(connections)}
    with log.open("ab") as out:
        return subprocess.Popen([str(FLASK), "--app", "mailroom", "mail", "worker", "--poll", POLL_SECONDS],
                                env=settings, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """User plus system CPU time the process has used so far."""
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_mb(process: subprocess.Popen[bytes]) -> float:
    """The process's peak resident memory (VmHWM) in MB, while it still runs."""
    try:
        status = Path(f"/proc/{process.pid}/status").read_text()
    except OSError:
        return float("nan")
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else float("nan")


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


@dataclass(frozen=True)
class Options:
    """What to measure."""

    messages: int
    workers: int
    kind: str
    latency: float
    connections: int
    baseline: int
    idle_samples: int


def bulk_rate(sink: Sink, start_count: int, started: float) -> float:
    """Bulk copies per second since ``started`` (when the sink had ``start_count``)."""
    with sink.lock:
        return (sink.bulk - start_count) / max(sink.last_bulk - started, 1e-9)


def baseline_rate(options: Options, env: dict[str, str], sink: Sink, tmp: Path) -> float:
    """The first copies delivered by the same workers with one connection each; their rate."""
    processes = [start_worker(env, tmp / f"baseline{i}.log", 1) for i in range(options.workers)]
    try:
        if not wait_until(lambda: sink.bulk >= 1, DRAIN_TIMEOUT):
            raise RuntimeError("the baseline workers delivered nothing; see their logs")
        with sink.lock:
            first, started = sink.bulk, sink.last_bulk
        if not wait_until(lambda: sink.bulk >= options.baseline, DRAIN_TIMEOUT):
            raise RuntimeError("the baseline workers are too slow; see their logs")
        return bulk_rate(sink, first, started)
    finally:
        for process in processes:
            stop_worker(process)


def idle_latencies(request: Callable[[], None], sink: Sink, samples: int) -> list[float]:
    """Request-to-250 of ``samples`` account emails on an idle queue, one after the other."""
    return [timed_request(request, sink) for _ in range(samples)]


def run(options: Options, tmp: Path) -> str:
    """The whole measurement; returns the last line."""
    sink = Sink(latency=options.latency)
    port = free_port()
    controller = Controller(sink, hostname=HOST, port=port)
    controller.start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with scratch_database(options.kind) as url:
            env = environment(url, port)
            app = make_app(env)
            migrate_and_fill(app, options.messages)
            queued, fan_seconds = fan_out(app)
            total = options.workers * options.connections
            print(f"database={options.kind} workers={options.workers} connections={options.connections} "
                  f"messages={queued} smtp_latency={options.latency}s cpus={os.cpu_count()} "
                  f"load={os.getloadavg()[0]:.1f}")
            print(f"fan-out: {queued} personalised copies queued in {fan_seconds:.1f} s "
                  f"({queued / fan_seconds:.0f}/s)")
            request = account_email_request(app)
            base = baseline_rate(options, env, sink, tmp)
            print(f"baseline, same run: {options.workers} workers x 1 connection: {base:.1f} bulk messages/s")
            processes = [start_worker(env, tmp / f"worker{i}.log", options.connections)
                         for i in range(options.workers)]
            with sink.lock:
                first, started = sink.bulk, time.monotonic()
            if not wait_until(lambda: sink.bulk >= first + (queued - first) // 5, DRAIN_TIMEOUT):
                raise RuntimeError("the workers delivered too little; see the worker logs")
            ahead = queued_bulk(app)
            loaded = timed_request(request, sink)
            print(f"reset while draining: 250 after {loaded:.3f} s, with {ahead} bulk copies still queued")
            if not wait_until(lambda: sink.bulk >= queued, DRAIN_TIMEOUT):
                print(f"warning: only {sink.bulk} of {queued} copies arrived in time")
            rate = bulk_rate(sink, first, started)
            target = 0.8 * total / options.latency if options.latency else float("nan")
            print(f"bulk: {sink.bulk - first} copies at {rate:.1f} messages/s; target 0.8 x {total} "
                  f"connections / {options.latency} s = {target:.0f}/s (rate/target = {rate / target:.2f}); "
                  f"bulk/baseline = {rate / base:.1f}")
            idle = idle_latencies(request, sink, options.idle_samples)
            idle_median = statistics.median(idle)
            print(f"idle queue, same run: request to 250 median {idle_median * 1000:.1f} ms "
                  f"(min {min(idle) * 1000:.1f}, max {max(idle) * 1000:.1f}; loaded/idle = "
                  f"{loaded / idle_median:.1f})")
            peaks = [peak_mb(p) for p in processes]
            print("peak memory per worker: " + ", ".join(f"{mb:.0f} MB" for mb in peaks))
            cpu = sum(cpu_seconds(p) for p in processes)
            copies = sink.bulk - first
            each = cpu / max(copies, 1)
            cores = os.cpu_count() or 1
            print(f"worker CPU: {cpu:.1f} s for {copies} copies = {each * 1000:.1f} ms each; "
                  f"CPU bound on {cores} idle cores: about {cores / each:.0f} messages/s")
            for process in processes:
                stop_worker(process)
            dispose(app)
    finally:
        for process in processes:
            stop_worker(process)
        controller.stop()
    return (f"reset_delay_s={loaded:.3f} idle_median_s={idle_median:.4f} bulk_rate={rate:.1f} "
            f"target={target:.0f} bulk/baseline={rate / base:.1f} peak_mb={max(peaks):.0f}")


def main() -> None:
    """Parse the options, run in a temporary directory, clean everything up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--smtp-latency", type=float, default=0.1,
                        help="seconds the sink waits in DATA, on each connection independently")
    parser.add_argument("--connections", type=int, default=8, help="MAIL_CONNECTIONS of each worker")
    parser.add_argument("--baseline-messages", type=int, default=300)
    parser.add_argument("--idle-samples", type=int, default=15)
    parser.add_argument("--db", choices=["auto", "sqlite", "postgresql"], default="auto")
    args = parser.parse_args()
    kind = args.db if args.db != "auto" else ("postgresql" if postgres_reachable() else "sqlite")
    options = Options(args.messages, args.workers, kind, args.smtp_latency, args.connections,
                      min(args.baseline_messages, args.messages // 5), args.idle_samples)
    tmp = Path(tempfile.mkdtemp(prefix="mailroom-priority-"))
    try:
        last = run(options, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(last)


if __name__ == "__main__":
    main()
