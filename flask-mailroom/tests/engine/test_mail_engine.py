"""The delivery engine against a real aiosmtpd: concurrent connections, the reserved lane, throttling."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from flask_mail import Message

from flask_mailroom import Mail
from flask_mailroom.clock import FrozenClock
from flask_mailroom.compose.deferred import Intent
from flask_mailroom.compose.outbox import Envelope, build_message, queue
from flask_mailroom.engine.worker import Worker
from flask_mailroom.models.outbox import BULK
from flask_mailroom.queue import OutboxMessage
from flask_mailroom.store import db

from support.outbox import queue_many, wait_for
from support.smtp import SMTPServer

Rows = Callable[[], list[OutboxMessage]]


def queue_account_email(app: Flask, address: str) -> str:
    """Queue one account email and commit; its Message-ID."""
    with app.app_context():
        message = build_message(Envelope(subject="Reset your password", recipients=[address]),
                                "Here is your link.", None)
        row = queue(message, template="test")
        db.session.commit()
        return row.message_id


@pytest.fixture
def running(app: Flask) -> Iterator[Callable[..., Worker]]:
    """``running(poll=0.02)`` starts a worker on a thread of its own; stopped at the end of the test."""
    started: list[tuple[Worker, threading.Thread]] = []

    def start(poll: float = 0.02) -> Worker:
        worker = Worker(app)
        thread = threading.Thread(target=worker.run_forever, args=(poll,), daemon=True)
        thread.start()
        started.append((worker, thread))
        return worker

    yield start
    for worker, thread in started:
        worker.stop.set()
        thread.join(30)
        assert not thread.is_alive()


def test_each_connection_delivers_in_parallel_and_every_message_once(
        app: Flask, smtp: SMTPServer, rows: Rows, deliver: Callable[[], int]) -> None:
    app.config.update(MAIL_CONNECTIONS=4, MAIL_MAX_EMAILS=10)
    expected = queue_many(app, 60, kind=BULK)
    smtp.hold(after=0)
    worker_thread = threading.Thread(target=deliver)
    worker_thread.start()
    # Every bulk-carrying connection has a message at the server at once (one is reserved).
    assert smtp.wait_until(lambda r: r.held >= 3, 30)
    smtp.release()
    worker_thread.join(60)
    received = smtp.wait_for(60)
    assert Counter(str(m.message["Message-ID"]) for m in received) == dict.fromkeys(expected, 1)
    per_connection = Counter(m.connection for m in received)
    assert len(per_connection) >= 6, "three connections at a time, each reopened after 10 messages"
    assert max(per_connection.values()) <= 10, "MAIL_MAX_EMAILS holds on every connection"
    assert {(r.status, r.attempts) for r in rows()} == {("sent", 1)}


def test_account_mail_starts_on_the_reserved_connection_while_bulk_holds_the_others(
        app: Flask, smtp: SMTPServer, running: Callable[..., Worker]) -> None:
    app.config.update(MAIL_CONNECTIONS=3)
    queue_many(app, 30, prefix="reader", kind=BULK)
    smtp.hold(after=0)  # the server keeps every reply: bulk connections are stuck mid-message
    running()
    assert smtp.wait_until(lambda r: r.held >= 2, 30), "both bulk connections are busy"
    reset_id = queue_account_email(app, "forgetful@example.com")
    assert smtp.wait_until(
        lambda r: any(m.rcpt_tos == ["forgetful@example.com"] for m in r.received), 30), (
        "the account email reached the server while every bulk connection was busy")
    smtp.release()
    received = smtp.wait_for(31)
    [reset] = [m for m in received if str(m.message["Message-ID"]) == reset_id]
    bulk_connections = {m.connection for m in received if m is not reset}
    assert reset.connection not in bulk_connections, "the reserved connection never carries bulk"


def test_throttling_replies_slow_the_sender_and_cost_no_attempt(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, rows: Rows) -> None:
    app.config.update(MAIL_CONNECTIONS=1)
    expected = queue_many(app, 5)
    smtp.fail_data("454 4.7.0 Too many messages, slow down", "421 4.7.0 Try again later",
                   "451 4.7.1 Rate limited")
    pauses: list[float] = []

    def sleeper(seconds: float) -> Any:
        """Waiting moves the frozen clock instead of the wall clock."""
        pauses.append(seconds)
        clock.advance(seconds)

    worker = Worker(app, sleeper=sleeper)
    while worker.drain():
        pass
    received = smtp.wait_for(5)
    assert sorted(str(m.message["Message-ID"]) for m in received) == sorted(expected)
    assert worker.stats["throttled"] == 3
    assert worker.stats["failed"] == worker.stats["retried"] == 0, "nothing failed"
    assert {(r.status, r.attempts) for r in rows()} == {("sent", 1)}, "no attempt was burnt"
    assert len(pauses) >= 3
    assert pauses[0] >= 0.5
    assert pauses[2] > pauses[0], "each throttling reply in a row pauses longer"


def test_a_message_throttled_again_and_again_fails_saying_why(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, rows: Rows) -> None:
    app.config.update(MAIL_CONNECTIONS=1, OUTBOX_MAX_THROTTLES=3)
    queue_many(app, 1)
    smtp.fail_data(*["454 4.7.0 Too many messages, slow down"] * 5)
    worker = Worker(app, sleeper=clock.advance)
    for _ in range(20):  # each drain waits out the pause (on the frozen clock) and tries again
        worker.drain()
        if rows()[0].status != "queued":
            break
    [row] = rows()
    assert (row.status, row.attempts, row.throttles) == ("failed", 0, 3), "no ordinary attempt used"
    assert row.last_error is not None
    assert row.last_error.startswith("gave up after 3 throttling replies"), row.last_error
    assert "454" in row.last_error
    assert worker.stats["throttled"] == 3
    assert smtp.messages == []


def test_a_retried_message_gets_a_fresh_set_of_throttles(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, rows: Rows, runner: FlaskCliRunner) -> None:
    app.config.update(MAIL_CONNECTIONS=1, OUTBOX_MAX_THROTTLES=1)
    queue_many(app, 1)
    smtp.fail_data("421 4.7.0 Try again later")
    Worker(app, sleeper=clock.advance).drain()
    [row] = rows()
    assert (row.status, row.throttles) == ("failed", 1)
    assert runner.invoke(args=["mail", "retry", "--all-failed"]).exit_code == 0
    assert Worker(app, sleeper=clock.advance).drain() == 1
    [row] = rows()
    assert (row.status, row.attempts, row.throttles) == ("sent", 1, 0)


def test_the_inprocess_worker_keeps_one_connection_on_sqlite(app: Flask, db_backend: str) -> None:
    # SQLite has one writer, shared with the web requests of the same process: the development
    # worker makes its writes one at a time; a worker process (or PostgreSQL) uses the settings.
    app.config.update(MAIL_CONNECTIONS=4)
    with app.app_context():
        assert Worker(app).connections() == (4, 1)
        assert Worker(app, inprocess=True).connections() == ((1, 0) if db_backend == "sqlite" else (4, 1))


def test_operators_see_lanes_in_flight_rate_and_the_breaker(
        app: Flask, smtp: SMTPServer, running: Callable[..., Worker], runner: FlaskCliRunner,
        clock: FrozenClock) -> None:
    clock.set(datetime.now(UTC))  # heartbeats are written by the worker's clock
    app.config.update(MAIL_CONNECTIONS=3, OUTBOX_CLAIM_TTL=4, MAIL_TIMEOUT=60)
    queue_many(app, 20, prefix="reader", kind=BULK)
    queue_many(app, 1, prefix="account")
    smtp.hold(after=1)
    worker = running()
    assert smtp.wait_until(lambda r: r.held >= 2, 30)
    line = re.compile(rf"worker {re.escape(worker.worker_id)}: 3 connections \(1 reserved\), "
                      r"(\d+) in flight, 1 sent, [\d.]+/s, breaker closed")

    def status() -> str:
        return str(runner.invoke(args=["mail", "status"]).output)

    def both_bulk_connections_reported() -> bool:
        found = line.search(status())
        return found is not None and int(found.group(1)) >= 2

    # The two held messages show once the worker's next heartbeat reports them.
    assert wait_for(both_bulk_connections_reported, 30), "each bulk connection holds what it is sending"
    output = status()
    assert line.search(output) is not None, output
    lanes = {cells[0]: [int(c) for c in cells[1:4]] for cells in
             ([c.strip() for c in row.split("│")] for row in output.splitlines() if "│" in row)
             if cells and cells[0] in ("transactional", "bulk")}
    assert lanes["transactional"][:2] == [0, 0], "the account email went straight out"
    queued, _due, in_flight = lanes["bulk"]
    assert in_flight >= 1
    assert 19 <= queued + in_flight <= 20
    assert "circuit breaker: closed" in output
    smtp.release()


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_on_postgresql_a_committed_row_wakes_an_idle_worker_at_once(
        app: Flask, smtp: SMTPServer, running: Callable[..., Worker], clock: FrozenClock) -> None:
    clock.set(datetime.now(UTC))
    worker = running(poll=600.0)  # polling alone would wait ten minutes
    assert wait_for(lambda: worker.holdings is not None, 30)
    for number in range(3):
        queue_account_email(app, f"woken{number}@example.com")
        assert smtp.wait_until(lambda r, n=number: len(r.received) == n + 1, 30), (
            "the commit's notification woke the idle worker")


def test_a_connection_renders_its_next_copy_while_the_server_takes_the_current_one(
        app: Flask, mail: Mail, smtp: SMTPServer, running: Callable[..., Worker]) -> None:
    app.config.update(MAIL_CONNECTIONS=2)  # one reserved, one for bulk
    rendered: list[str] = []
    during: dict[str, bool] = {}

    def copy(to: str, params: Any) -> Message:
        rendered.append(to)
        if to == "reader2@example.com":
            # Rendered while the copy ahead of it is at the server, its reply held: without
            # rendering ahead this copy would be built before that one is even sent.
            during["reader1 at the server"] = smtp.wait_until(
                lambda r: any(m.rcpt_tos == ["reader1@example.com"] for m in r.received), 10)
        return Message("News", recipients=[to], body=f"Hello {params['name']}",
                       sender="news@example.com")

    mail.register_builder("news", copy, each_attempt=True)
    with app.app_context():
        mail.defer_many("news", [Intent(f"reader{n}@example.com", {"name": f"R{n}"}) for n in range(4)],
                        kind=BULK, subject="News", sender="news@example.com")
        db.session.commit()
    smtp.hold(after=1)  # reader0 is answered; reader1's reply waits until the release below
    running()
    assert wait_for(lambda: "reader1 at the server" in during, 30), rendered
    assert during == {"reader1 at the server": True}
    assert smtp.held == 1, "reader1 was still being sent while reader2 was rendered"
    smtp.release()
    assert smtp.wait_until(lambda r: len(r.received) == 4, 30)
    assert sorted(rendered) == [f"reader{n}@example.com" for n in range(4)], "each copy rendered once"
