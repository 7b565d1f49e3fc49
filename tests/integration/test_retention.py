"""Retention: finished messages drop their bodies after OUTBOX_RETENTION_DAYS and keep their
metadata; by command, and by every worker in the background."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from flask_mailroom import queue as admin
from flask_mailroom.clock import FrozenClock
from flask_mailroom.compose.outbox import Envelope, build_message, queue
from flask_mailroom.engine import retention
from flask_mailroom.engine.worker import Worker

from mailroom.extensions import db
from mailroom.models import OutboxMessage
from mailroom.services import announcements
from tests.support.announcements import add_users, outbox
from tests.support.smtp import SMTPServer

METADATA = ("message_id", "kind", "status", "template", "subject", "sender", "recipients",
            "attempts", "last_error", "created_at", "sent_at", "failed_at", "announcement_id",
            "dedupe_key")


def queue_mail(app: Flask, address: str, subject: str = "Your account") -> int:
    """Queue one finished account email; its row id."""
    with app.app_context():
        row = queue(build_message(Envelope(subject=subject, recipients=[address]), "Hello.", None))
        db.session.commit()
        return int(row.id)


def metadata(row: OutboxMessage) -> tuple[object, ...]:
    """What an operator still sees of a row once its body is gone."""
    return tuple(getattr(row, name) for name in METADATA)


def purge(runner: FlaskCliRunner, *args: str) -> str:
    """Run ``flask mail purge``; its output."""
    result = runner.invoke(args=["mail", "purge", *args])
    assert result.exit_code == 0, result.output
    return str(result.output)


def test_finished_rows_older_than_retention_lose_their_bodies_and_keep_their_metadata(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, runner: FlaskCliRunner,
        deliver: Callable[[], int]) -> None:
    add_users(app, 2)
    with app.app_context():
        announcements.send(announcements.create("News", "Hello.").id)
    queue_mail(app, "alice@example.com")
    smtp.refuse_recipient("gone@example.com")
    queue_mail(app, "gone@example.com")
    assert deliver() == 4
    queue_mail(app, "waiting@example.com")
    clock.advance(days=7, minutes=1)
    queue_mail(app, "recent@example.com")
    assert deliver() == 2
    before = {row.recipients[0]: row for row in outbox(app)}

    assert "dropped the bodies of 4 message(s) finished before 2026-03-02 09:01 UTC" in purge(runner)

    after = {row.recipients[0]: row for row in outbox(app)}
    assert {address: metadata(row) for address, row in after.items()} == {
        address: metadata(row) for address, row in before.items()}
    old = ["user0@example.com", "user1@example.com", "alice@example.com", "gone@example.com"]
    assert {address: (row.raw, row.purged_at) for address, row in after.items() if address in old} == {
        address: (b"", clock.now()) for address in old}
    assert [after[a].meta for a in old[:2]] == [{"deferred": "announcement",
                                                 "date": before[a].meta["date"]} for a in old[:2]]
    assert [after[a].status for a in old] == ["sent", "sent", "sent", "failed"]
    for kept in ("waiting@example.com", "recent@example.com"):  # finished less than 7 days ago
        assert (after[kept].raw, after[kept].purged_at) == (before[kept].raw, None)
        assert after[kept].raw
    assert "dropped the bodies of 0 message(s)" in purge(runner)


def test_a_purged_failed_message_cannot_be_queued_again(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, runner: FlaskCliRunner,
        deliver: Callable[[], int]) -> None:
    smtp.refuse_recipient("gone@example.com")
    smtp.refuse_recipient("gone.too@example.com")  # another address: the first 550 suppresses gone@
    old = queue_mail(app, "gone@example.com")
    deliver()
    clock.advance(days=3)
    recent = queue_mail(app, "gone.too@example.com")
    deliver()
    assert "dropped the bodies of 1 message(s)" in purge(runner, "--days", "2")
    with app.app_context(), pytest.raises(admin.RetryRefused, match="no body any more"):
        admin.retry(str(old))
    result = runner.invoke(args=["mail", "retry", "--all-failed"])
    assert "1 failed message(s) queued again" in result.output
    assert {row.id: row.status for row in outbox(app)} == {old: "failed", recent: "queued"}


@pytest.mark.parametrize("app_config", [{"OUTBOX_PURGE_INTERVAL": 3600, "OUTBOX_RETENTION_DAYS": 0}])
def test_the_worker_purges_in_the_background_once_per_interval(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, deliver: Callable[[], int]) -> None:
    first = queue_mail(app, "a@example.com")
    deliver()
    clock.advance(minutes=1)
    assert retention.purge_if_due(app) == 1
    second = queue_mail(app, "b@example.com")
    deliver()
    clock.advance(minutes=1)
    assert retention.purge_if_due(app) == 0  # less than an hour since the last purge
    clock.advance(hours=1)
    worker = Worker(app)
    loop = threading.Thread(target=worker.run_forever, args=(0.01,))
    loop.start()
    try:
        with app.app_context():
            purged = db.session.get(OutboxMessage, second)
            # The worker purges on its own schedule (between drains, or on its heartbeat): wait for it.
            for _ in range(3000):
                db.session.refresh(purged)
                db.session.commit()
                if purged.purged_at is not None or worker.stop.wait(0.01):
                    break
    finally:
        worker.stop.set()
        loop.join(10)
    assert {row.id: row.purged_at for row in outbox(app)} == {
        first: clock.now() - timedelta(hours=1, minutes=1), second: clock.now()}
