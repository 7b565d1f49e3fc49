"""Delivery throughput: our worker against a bare smtplib loop and Flask-Mail's one-connection-per-message.

Run: ``.venv/bin/python bench/delivery.py [--messages 2000] [--per-connection 300] [--rounds 3]
[--db auto|sqlite|postgresql]``.

One run, one aiosmtpd sink (in a process of its own, so it does not share our interpreter lock),
three ways of handing it the same messages:

(a) a bare smtplib loop over one reused connection, sending the outbox rows' bytes: the ceiling;
(b) Flask-Mail's ``mail.send(Message(...))`` per message, one connection each, as the tutorials do;
(c) ``Worker(app).drain()`` delivering ``--messages`` queued outbox rows (claims, outcome writes).

Each is measured ``--rounds`` times, interleaved; the figures are medians, and the ratios are the
medians of each round's ratios (the machine is shared: a busy moment hits a round's three alike).
The database is PostgreSQL when reachable (``--db auto``), else SQLite in a temporary folder. The
sink's own count is checked against what was sent. The last line is
``worker/smtplib=<ratio> worker/per-connection=<ratio>``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from common import scratch_database  # noqa: E402
from flask_mailroom.compose.outbox import Envelope, compose, queue  # noqa: E402
from flask_mailroom.engine.worker import Worker  # noqa: E402

from mailroom import create_app  # noqa: E402
from mailroom.extensions import db, mail  # noqa: E402
from mailroom.models import OutboxMessage  # noqa: E402
from mailroom.state import now  # noqa: E402

HOST = "127.0.0.1"


# --- the sink (runs as ``delivery.py --sink PORT``) --------------------------------------------


class CountingSink:
    """aiosmtpd handler that accepts and counts."""

    count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Accept the message."""
        CountingSink.count += 1
        return "250 OK"


def run_sink(port: int) -> None:
    """Serve until SIGTERM, then print how many messages arrived."""
    from aiosmtpd.controller import Controller

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    controller = Controller(CountingSink(), hostname=HOST, port=port)
    controller.start()
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()
    print(CountingSink.count, flush=True)


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def sink() -> Iterator[tuple[int, Callable[[], int]]]:
    """Start the sink process; yield its port and a function that stops it and returns its count."""
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--sink", str(port)], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    result: list[int] = []

    def stop() -> int:
        """Stop the sink and read its count."""
        process.send_signal(signal.SIGTERM)
        result.append(int(process.communicate(timeout=60)[0].strip()))
        return result[0]

    try:
        yield port, stop
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- the database -------------------------------------------------------------------------------


def make_app(url: str, port: int) -> Flask:
    """An application on that database, sending to the sink, migrated."""
    app = create_app({
        "MAILROOM_ENV": "testing", "SECRET_KEY": secrets.token_urlsafe(32),
        "SQLALCHEMY_DATABASE_URI": url, "SERVER_NAME": "mailroom.bench",
        "MAIL_SERVER": HOST, "MAIL_PORT": port, "MAIL_SUPPRESS_SEND": False,
        "MAIL_TRANSPORT": "smtp", "MAIL_WORKER_INPROCESS": False,
        "MAIL_DEFAULT_SENDER": ("Mailroom", "noreply@mailroom.bench"),
    })
    with app.app_context():
        upgrade(directory=str(ROOT / "src" / "mailroom" / "migrations"))
        mail.upgrade()
    return app


def queue_messages(app: Flask, count: int) -> list[bytes]:
    """Compose ``count`` account-sized emails from the test templates into the outbox; their bytes."""
    with app.app_context():
        for number in range(count):
            envelope = Envelope(subject=f"Bench message {number}",
                                recipients=[(f"User {number}", f"user{number}@example.com")])
            queue(compose("test", envelope, sent_at=now(), address=f"user{number}@example.com",
                          site_url="https://mailroom.bench/"), template="test")
        db.session.commit()
        return list(db.session.scalars(select(OutboxMessage.raw).order_by(OutboxMessage.id)))


def requeue(app: Flask) -> None:
    """Put every row back in the queue, due now (between rounds, untimed)."""
    with app.app_context():
        db.session.execute(update(OutboxMessage).values(status="queued", attempts=0, sent_at=None,
                                                        next_attempt_at=now()))
        db.session.commit()


# --- the three ways ----------------------------------------------------------------------------


def timed(action: Callable[[], int]) -> float:
    """Messages per second of ``action``, which returns how many it sent."""
    start = time.perf_counter()
    count = action()
    return count / (time.perf_counter() - start)


def bare_smtplib(port: int, raws: list[bytes]) -> int:
    """(a) One connection, one sendmail per message."""
    with smtplib.SMTP(HOST, port, timeout=30) as connection:
        for number, raw in enumerate(raws):
            connection.sendmail("noreply@mailroom.bench", [f"user{number}@example.com"], raw)
    return len(raws)


def flask_mail_per_message(app: Flask, count: int) -> int:
    """(b) The tutorial way: Flask-Mail's own ``mail.send`` (one connection) per message, in an app
    of its own with the same mail settings (``app`` is Mailroom's, whose ``mail`` is the outbox)."""
    import flask_mail

    tutorial = Flask("tutorial")
    tutorial.config.update({key: value for key, value in app.config.items() if key.startswith("MAIL_")})
    original = flask_mail.Mail(tutorial)
    with tutorial.app_context():
        for number in range(count):
            message = flask_mail.Message(subject=f"Bench message {number}",
                                         recipients=[f"user{number}@example.com"],
                                         body="Hello " * 40, html="<p>" + "Hello " * 40 + "</p>")
            original.send(message)
    return count


def worker_drain(app: Flask, count: int) -> int:
    """(c) Our worker draining the queued rows."""
    handled = Worker(app).drain()
    with app.app_context():
        sent = db.session.scalar(select(db.func.count()).where(OutboxMessage.status == "sent"))
    assert handled == count == sent, (handled, count, sent)
    return handled


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Round:
    """Messages per second of each way in one round."""

    smtplib: float
    per_connection: float
    worker: float


def measure(app: Flask, port: int, raws: list[bytes], args: argparse.Namespace) -> list[Round]:
    """Run the rounds, interleaving the three ways, so that a busy moment hits them alike."""
    rounds = []
    for number in range(1, args.rounds + 1):
        a = timed(lambda: bare_smtplib(port, raws))
        b = timed(lambda: flask_mail_per_message(app, args.per_connection))
        requeue(app)
        c = timed(lambda: worker_drain(app, len(raws)))
        print(f"round {number}: (a) smtplib {a:6.0f}/s  (b) flask-mail per message {b:5.0f}/s  "
              f"(c) worker {c:6.0f}/s  c/a={c / a:.2f}  c/b={c / b:.2f}", flush=True)
        rounds.append(Round(a, b, c))
    return rounds


def report(rounds: list[Round]) -> None:
    """Medians of the rates, then the medians of the per-round ratios (the last line)."""
    a = median(r.smtplib for r in rounds)
    b = median(r.per_connection for r in rounds)
    c = median(r.worker for r in rounds)
    print(f"median: (a) smtplib, one connection {a:.0f}/s; (b) Flask-Mail, a connection per "
          f"message {b:.0f}/s; (c) worker {c:.0f}/s")
    print(f"worker/smtplib={median(r.worker / r.smtplib for r in rounds):.2f} "
          f"worker/per-connection={median(r.worker / r.per_connection for r in rounds):.2f}")


def main() -> None:
    """Parse the arguments, run, print the figures and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--per-connection", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db", choices=["auto", "sqlite", "postgresql"], default="auto")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(args.sink)
        return
    with sink() as (port, stop_sink), scratch_database(args.db) as url:
        app = make_app(url, port)
        raws = queue_messages(app, args.messages)
        print(f"{make_url(url).get_backend_name()}, {args.messages} messages of "
              f"{sum(map(len, raws)) // len(raws)} bytes, {os.cpu_count()} CPUs", flush=True)
        rounds = measure(app, port, raws, args)
        with app.app_context():
            db.engine.dispose()
        received = stop_sink()
    expected = args.rounds * (2 * args.messages + args.per_connection)
    assert received == expected, f"the sink received {received} messages, expected {expected}"
    report(rounds)


if __name__ == "__main__":
    main()
