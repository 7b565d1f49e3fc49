"""Worker processes: killed mid-batch, several at once on PostgreSQL, stopped with SIGTERM."""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from mailroom.domain.clock import FrozenClock
from mailroom.extensions import db
from mailroom.mail.worker import Worker
from mailroom.models import OutboxMessage
from tests.integration.mail.helpers import (
    flask_command,
    outbox_rows,
    process_env,
    queue_many,
    start_process,
    wait_for,
)
from tests.support.smtp import SMTPServer

Processes = list[subprocess.Popen[bytes]]


def sent_count(app: Flask) -> int:
    """How many rows are recorded as sent right now."""
    with app.app_context():
        count = db.session.scalar(select(func.count()).where(OutboxMessage.status == "sent"))
        db.session.commit()
        return int(count or 0)


def started(log: Path) -> bool:
    """Whether a worker process has announced that it runs."""
    return "started" in log.read_text(errors="replace")


def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_only_the_message_in_flight(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, processes: Processes,
        tmp_path: Path) -> None:
    clock.set(datetime.now(UTC))  # the worker process runs on the real clock
    expected = queue_many(app, 30)
    smtp.hold(after=5)  # the server takes the sixth message but holds its reply: the worker waits
    log = tmp_path / "worker.log"
    worker = start_process(flask_command("mail", "worker"), process_env(app), log)
    processes.append(worker)
    assert smtp.wait_until(lambda r: r.held >= 1, 60), log.read_text()
    assert wait_for(lambda: sent_count(app) == 5), "the five accepted messages are recorded"

    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    smtp.release()
    in_flight = smtp.messages[5]  # accepted by the server, never confirmed to the dead worker
    assert [r.status for r in outbox_rows(app)].count("sending") == 25

    assert Worker(app).drain() == 0, "the dead worker's claims are respected until they expire"
    clock.advance(app.config["OUTBOX_CLAIM_TTL"] + 60)
    assert Worker(app).drain() == 25
    received = smtp.wait_for(31)
    counts = Counter(str(m.message["Message-ID"]) for m in received)
    assert set(counts) == set(expected), "nothing lost"
    assert {k: n for k, n in counts.items() if n > 1} == {str(in_flight.message["Message-ID"]): 2}
    copies = [m.data for m in received if m.message["Message-ID"] == in_flight.message["Message-ID"]]
    assert copies[0] == copies[1], "the repeat is the same message, Message-ID and all"
    assert {r.status for r in outbox_rows(app)} == {"sent"}


def test_sigterm_finishes_the_message_in_hand_and_leaves_the_rest_queued(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, processes: Processes,
        tmp_path: Path) -> None:
    clock.set(datetime.now(UTC))
    queue_many(app, 10)
    smtp.hold(after=2)
    log = tmp_path / "worker.log"
    worker = start_process(flask_command("mail", "worker"), process_env(app), log)
    processes.append(worker)
    assert smtp.wait_until(lambda r: r.held >= 1, 60), log.read_text()
    worker.send_signal(signal.SIGTERM)
    smtp.release()
    assert worker.wait(30) == 0, log.read_text()
    assert "stopped" in log.read_text()
    assert len(smtp.messages) == 3
    statuses = Counter((r.status, r.attempts) for r in outbox_rows(app))
    assert statuses == {("sent", 1): 3, ("queued", 0): 7}


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_two_workers_on_postgresql_deliver_a_thousand_messages_each_exactly_once(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, processes: Processes,
        tmp_path: Path) -> None:
    clock.set(datetime.now(UTC))
    expected = queue_many(app, 1000)
    smtp.hold(after=0)  # nothing is accepted until both workers are connected
    env = process_env(app, OUTBOX_BATCH_SIZE=50)
    for name in ("a", "b"):
        processes.append(start_process(flask_command("mail", "worker", "--burst"), env,
                                       tmp_path / f"worker-{name}.log"))
    assert smtp.wait_until(lambda r: r.connections >= 2, 60), "both workers claimed and connected"
    smtp.release()
    for process in processes:
        assert process.wait(120) == 0
    received = smtp.wait_for(1000)
    assert Counter(str(m.message["Message-ID"]) for m in received) == dict.fromkeys(expected, 1)
    per_connection = Counter(m.connection for m in received)
    assert len(per_connection) == 2
    assert min(per_connection.values()) > 0
    assert {r.status for r in outbox_rows(app)} == {"sent"}
