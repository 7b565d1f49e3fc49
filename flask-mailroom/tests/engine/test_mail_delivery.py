"""Delivery against a real aiosmtpd: retries, permanent failures, connection reuse, outages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from flask_mailroom import email_delivered
from flask_mailroom.clock import FrozenClock
from flask_mailroom.engine.worker import Worker
from flask_mailroom.queue import OutboxMessage

from support.outbox import wait_for
from support.smtp import SMTPServer

Queue = Callable[..., list[str]]
Rows = Callable[[], list[OutboxMessage]]


def message_ids(server: SMTPServer) -> Counter[str]:
    """How many times the server received each Message-ID."""
    return Counter(str(m.message["Message-ID"]) for m in server.messages)


def test_a_temporary_failure_is_retried_after_backoff_and_delivered_once(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, deliver: Callable[[], int],
        queue_messages: Queue, rows: Rows) -> None:
    [message_id] = queue_messages(1)
    smtp.fail_data("450 4.2.1 Mailbox busy, try again later")
    assert deliver() == 1
    [row] = rows()
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.last_error is not None
    assert row.last_error.startswith("450")
    assert row.next_attempt_at > clock.now()
    assert smtp.messages == []

    assert deliver() == 0, "not due before its backoff has passed"
    clock.set(row.next_attempt_at)
    assert deliver() == 1
    [row] = rows()
    assert (row.status, row.attempts, row.sent_at) == ("sent", 2, clock.now())
    assert message_ids(smtp) == {message_id: 1}


def test_backoff_grows_and_attempts_run_out(app: Flask, app_config: dict[str, Any],
                                            smtp: SMTPServer, clock: FrozenClock,
                                            deliver: Callable[[], int], queue_messages: Queue,
                                            rows: Rows) -> None:
    queue_messages(1)
    smtp.fail_data(*["452 4.3.1 Insufficient system storage"] * 3)
    delays = []
    for _ in range(2):
        deliver()
        [row] = rows()
        delays.append((row.next_attempt_at - clock.now()).total_seconds())
        clock.set(row.next_attempt_at)
    base = app.config["OUTBOX_BACKOFF_BASE"]
    assert base / 2 <= delays[0] <= base
    assert base <= delays[1] <= 2 * base
    app.config["OUTBOX_MAX_ATTEMPTS"] = 3
    deliver()
    [row] = rows()
    assert (row.status, row.attempts, row.failed_at) == ("failed", 3, clock.now())
    assert row.last_error is not None
    assert "452" in row.last_error


def test_a_permanent_refusal_fails_that_message_and_the_rest_share_the_connection(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int], queue_messages: Queue,
        rows: Rows) -> None:
    queue_messages(5)
    smtp.refuse_recipient("msg2@example.com", "550 5.1.1 No such user")
    assert deliver() == 5
    assert sorted(m.rcpt_tos[0] for m in smtp.wait_for(4)) == [
        "msg0@example.com", "msg1@example.com", "msg3@example.com", "msg4@example.com"]
    assert smtp.connections == 1
    assert {m.connection for m in smtp.messages} == {1}
    statuses = [(r.recipients[0], r.status) for r in rows()]
    assert ("msg2@example.com", "failed") in statuses
    assert sum(1 for _, status in statuses if status == "sent") == 4
    failed = next(r for r in rows() if r.status == "failed")
    assert failed.last_error is not None
    assert "550 5.1.1 No such user" in failed.last_error
    assert failed.attempts == 1


def test_a_permanent_refusal_of_the_data_fails_only_that_message(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int], queue_messages: Queue,
        rows: Rows) -> None:
    queue_messages(3)
    smtp.fail_data("554 5.7.1 Message rejected as spam")
    deliver()
    assert [r.status for r in rows()] == ["failed", "sent", "sent"]
    assert rows()[0].last_error == "554 5.7.1 Message rejected as spam"
    assert smtp.connections == 1
    assert len(smtp.messages) == 2


def test_a_partly_refused_message_is_retried_only_for_the_deferred_recipients(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, deliver: Callable[[], int],
        queue_messages: Queue, rows: Rows) -> None:
    queue_messages(1, recipients=["ok@example.com", "later@example.com", "gone@example.com"])
    smtp.refuse_recipient("later@example.com", "450 4.2.1 Mailbox busy")
    smtp.refuse_recipient("gone@example.com", "550 5.1.1 No such user")
    deliver()
    assert [m.rcpt_tos for m in smtp.wait_for(1)] == [["ok@example.com"]]
    [row] = rows()
    assert (row.status, row.recipients) == ("queued", ["later@example.com"])
    assert row.last_error is not None
    assert "450" in row.last_error
    assert "550" in row.last_error
    smtp.recorder.rcpt_replies.clear()
    clock.set(row.next_attempt_at)
    deliver()
    assert [m.rcpt_tos for m in smtp.wait_for(2)] == [["ok@example.com"], ["later@example.com"]]
    assert rows()[0].status == "sent"


@pytest.fixture
def app_config() -> dict[str, Any]:
    """One connection (these tests follow one connection's order), small claims."""
    return {"OUTBOX_BATCH_SIZE": 10, "MAIL_CONNECTIONS": 1}


def test_one_connection_serves_every_batch_of_a_drain_and_is_closed_when_idle(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int], queue_messages: Queue,
        rows: Rows) -> None:
    queue_messages(35)
    assert deliver() == 35
    assert len(smtp.wait_for(35)) == 35
    assert smtp.connections == 1
    assert smtp.wait_until(lambda r: r.disconnections == 1), "closed once idle"
    assert {r.status for r in rows()} == {"sent"}


def test_mail_max_emails_reconnects_after_that_many_messages(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int], queue_messages: Queue) -> None:
    app.config["MAIL_MAX_EMAILS"] = 50
    app.config["OUTBOX_BATCH_SIZE"] = 100
    queue_messages(500)
    assert deliver() == 500
    received = smtp.wait_for(500)
    assert smtp.connections == 10
    assert Counter(m.connection for m in received) == {n: 50 for n in range(1, 11)}


def test_stopping_finishes_the_message_in_hand_and_gives_back_the_rest(
        app: Flask, smtp: SMTPServer, queue_messages: Queue, rows: Rows) -> None:
    queue_messages(5)
    worker = Worker(app)
    dispatched: list[str] = []

    def stop_after_second(sender: Flask, message: Any) -> None:
        dispatched.append(message.msgId)
        if len(dispatched) == 2:  # the connection's second claim holds the other four by now
            worker.stop.set()

    with email_delivered.connected_to(stop_after_second):
        assert worker.drain() == 2
    assert len(smtp.messages) == 2
    assert [(r.status, r.attempts) for r in rows()] == [("sent", 1)] * 2 + [("queued", 0)] * 3
    assert all(r.claimed_by is None for r in rows())


def test_an_expired_claim_is_taken_over_by_another_worker(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, deliver: Callable[[], int],
        queue_messages: Queue, rows: Rows) -> None:
    [message_id] = queue_messages(1)
    with app.app_context():
        assert len(Worker(app, worker_id="dead").claim(10)) == 1
    assert deliver() == 0, "a live claim is respected"
    clock.advance(app.config["OUTBOX_CLAIM_TTL"] + 1)
    assert deliver() == 1
    [row] = rows()
    assert (row.status, row.attempts, row.claimed_by) == ("sent", 2, None)
    assert message_ids(smtp) == {message_id: 1}


def test_an_smtp_outage_costs_no_attempts_loses_nothing_and_repeats_nothing(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, deliver: Callable[[], int],
        queue_messages: Queue, rows: Rows) -> None:
    app.config.update(OUTBOX_BATCH_SIZE=100, MAIL_CONNECTIONS=4)
    expected = queue_messages(200)
    smtp.stop()
    worker = Worker(app)
    assert worker.drain() == 0
    assert 1 <= worker.stats["unreachable"] <= 4, "one refused connection per connection at most"
    assert {(r.status, r.attempts) for r in rows()} == {("queued", 0)}, "no message paid for it"
    errors = [r.last_error for r in rows() if r.last_error]
    assert errors
    assert all(e.startswith("cannot connect") for e in errors)

    back = SMTPServer(port=smtp.port).start()
    try:
        assert deliver() == 200
        assert message_ids(back) == dict.fromkeys(expected, 1)
        assert {(r.status, r.attempts) for r in rows()} == {("sent", 1)}
    finally:
        back.stop()


def test_a_long_batch_keeps_its_claim_alive(app: Flask, smtp: SMTPServer, clock: FrozenClock,
                                            queue_messages: Queue, rows: Rows) -> None:
    app.config["OUTBOX_CLAIM_TTL"] = 60
    queue_messages(4)
    stolen: list[int] = []
    dispatched: list[str] = []

    def slow_server(sender: Flask, message: Any) -> None:
        dispatched.append(message.msgId)
        if len(dispatched) == 1:
            return  # a connection's first claim is one message; its second holds the other three
        clock.advance(40)  # each message takes 40 s: the claim outlives its first lifetime
        stolen.extend(c.id for c in Worker(app, worker_id="other").claim(10))

    with email_delivered.connected_to(slow_server):
        assert Worker(app).drain() == 4
    assert stolen == [], "another worker could not take rows this worker still held"
    assert [r.status for r in rows()] == ["sent"] * 4
    assert len(smtp.messages) == 4


def test_a_message_whose_workers_keep_dying_is_given_up(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, deliver: Callable[[], int],
        queue_messages: Queue, rows: Rows) -> None:
    app.config["OUTBOX_MAX_ATTEMPTS"] = 2
    queue_messages(1)
    for _ in range(2):  # two workers claim it and die
        with app.app_context():
            assert len(Worker(app, worker_id="doomed").claim(10)) == 1
        clock.advance(app.config["OUTBOX_CLAIM_TTL"] + 1)
    deliver()
    [row] = rows()
    assert (row.status, row.attempts) == ("failed", 3)
    assert "gave up after 2 attempts" in (row.last_error or "")
    assert smtp.messages == []


def test_a_batch_claimed_ahead_and_taken_over_meanwhile_is_not_sent_twice(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, deliver: Callable[[], int],
        queue_messages: Queue, rows: Rows) -> None:
    app.config.update(OUTBOX_CLAIM_TTL=60, OUTBOX_BATCH_SIZE=2)
    expected = queue_messages(6)
    taken: list[int] = []
    dispatched: list[str] = []

    def very_slow_server(sender: Flask, message: Any) -> None:
        dispatched.append(message.msgId)
        # Once this message is recorded, let a lot of time pass: every claim made so far has
        # expired, and another worker takes over what it finds.
        assert wait_for(lambda: sum(r.status == "sent" for r in rows()) == len(dispatched))
        clock.advance(100)
        taken.extend(c.id for c in Worker(app, worker_id="other").claim(10))

    with email_delivered.connected_to(very_slow_server):
        Worker(app).drain()
    assert taken, "the other worker found expired claims to take"
    clock.advance(app.config["OUTBOX_CLAIM_TTL"] + 1)  # the other worker never finishes them
    while deliver():
        pass
    assert message_ids(smtp) == dict.fromkeys(expected, 1)
    assert {r.status for r in rows()} == {"sent"}
