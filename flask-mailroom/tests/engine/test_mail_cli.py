"""The queue commands: ``mail worker --burst``, ``mail status``, ``mail retry``, ``mail send-test``."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskCliRunner

from flask_mailroom.clock import FrozenClock
from flask_mailroom.queue import OutboxMessage

from support.smtp import SMTPServer

Queue = Callable[..., list[str]]
Rows = Callable[[], list[OutboxMessage]]


def test_worker_burst_delivers_what_is_due_and_says_so(
        runner: FlaskCliRunner, smtp: SMTPServer, queue_messages: Queue, rows: Rows) -> None:
    queue_messages(3)
    smtp.refuse_recipient("msg1@example.com")
    result = runner.invoke(args=["mail", "worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert "handled 3 message(s): 2 sent, 0 to retry, 1 failed" in result.output
    assert [r.status for r in rows()] == ["sent", "failed", "sent"]


def test_status_counts_every_status_and_the_oldest_waiting_message(
        app: Flask, runner: FlaskCliRunner, smtp: SMTPServer, clock: FrozenClock,
        queue_messages: Queue, deliver: Callable[[], int]) -> None:
    empty = runner.invoke(args=["mail", "status"])
    assert empty.exit_code == 0
    assert "oldest queued: none" in empty.output
    queue_messages(2, prefix="old")
    smtp.refuse_recipient("old0@example.com")
    deliver()
    clock.advance(3 * 3600 + 5 * 60)
    queue_messages(3, prefix="new")
    clock.advance(90)
    result = runner.invoke(args=["mail", "status"])
    assert result.exit_code == 0, result.output
    lines = {tuple(line.replace("│", " ").split()) for line in result.output.splitlines()}
    assert {("queued", "3"), ("sending", "0"), ("sent", "1"), ("failed", "1")} <= lines
    assert "due now: 3" in result.output
    assert "oldest queued: 1 min old" in result.output


def test_retry_one_failed_message_then_all(runner: FlaskCliRunner, smtp: SMTPServer,
                                           queue_messages: Queue, rows: Rows,
                                           deliver: Callable[[], int]) -> None:
    ids = queue_messages(3)
    smtp.fail_data(*["554 5.7.1 Rejected"] * 3)
    deliver()
    assert {r.status for r in rows()} == {"failed"}

    first = rows()[0]
    result = runner.invoke(args=["mail", "retry", str(first.id)])
    assert result.exit_code == 0, result.output
    assert f"message {first.id} {first.message_id} queued again" in result.output
    by_message_id = runner.invoke(args=["mail", "retry", ids[1].strip("<>")])
    assert by_message_id.exit_code == 0, by_message_id.output
    assert [(r.status, r.attempts) for r in rows()] == [("queued", 0), ("queued", 0), ("failed", 1)]
    deliver()
    assert runner.invoke(args=["mail", "retry", str(first.id)]).output.strip().endswith(
        "was already sent at 2026-03-02 09:00:00")

    result = runner.invoke(args=["mail", "retry", "--all-failed"])
    assert "1 failed message(s) queued again" in result.output
    deliver()
    assert {r.status for r in rows()} == {"sent"}
    assert sorted(str(m.message["Message-ID"]) for m in smtp.messages) == sorted(ids)


def test_retry_explains_what_it_cannot_do(runner: FlaskCliRunner) -> None:
    missing = runner.invoke(args=["mail", "retry", "999"])
    assert missing.exit_code == 1
    assert "no message '999' in the outbox" in missing.output
    neither = runner.invoke(args=["mail", "retry"])
    assert neither.exit_code == 2
    assert "--all-failed" in neither.output


def test_send_test_queues_the_test_message_and_can_deliver_it_now(
        runner: FlaskCliRunner, smtp: SMTPServer, rows: Rows) -> None:
    result = runner.invoke(args=["mail", "send-test", "Ops@example.com", "--now"])
    assert result.exit_code == 0, result.output
    assert "queued for Ops@example.com" in result.output
    assert "status: sent" in result.output
    [received] = smtp.wait_for(1)
    assert received.rcpt_tos == ["Ops@example.com"]
    assert received.message["Subject"] == "Mailroom test message"
    assert "https://mailroom.test/" in received.text()
    assert [r.template for r in rows()] == ["test"]


def test_send_test_refuses_a_bad_address_and_reports_a_failed_delivery(
        app: Flask, runner: FlaskCliRunner, smtp: SMTPServer, rows: Rows) -> None:
    bad = runner.invoke(args=["mail", "send-test", "not-an-address"])
    assert bad.exit_code == 2
    assert "ADDRESS" in bad.output
    assert rows() == []
    smtp.refuse_recipient("ops@example.com", "550 5.1.1 Unknown user")
    failed = runner.invoke(args=["mail", "send-test", "ops@example.com", "--now"])
    assert failed.exit_code == 1
    assert "status: failed (ops@example.com: 550 5.1.1 Unknown user)" in failed.output
