"""Worker processes: killed mid-drain and taken over, several at once on PostgreSQL, stopped with SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from flask_mailroom.clock import FrozenClock
from flask_mailroom.engine.worker import Worker
from flask_mailroom.models import MailWorker
from flask_mailroom.queue import OutboxMessage
from flask_mailroom.store import db

from support.outbox import (
    flask_command,
    outbox_rows,
    process_env,
    queue_many,
    start_process,
    wait_for,
)
from support.smtp import Received, SMTPServer

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


def message_id(message: Received) -> str:
    """The Message-ID header of a received message."""
    return str(message.message["Message-ID"])


def test_a_killed_worker_holds_only_what_its_connections_took_and_is_taken_over_after_the_ttl(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, processes: Processes,
        tmp_path: Path) -> None:
    clock.set(datetime.now(UTC))  # the worker process runs on the real clock
    expected = queue_many(app, 40)
    smtp.hold(after=5)  # the server takes later messages but holds their replies: the worker waits
    log = tmp_path / "worker.log"
    env = process_env(app, MAIL_CONNECTIONS=4, OUTBOX_BATCH_SIZE=2)
    worker = start_process(flask_command("mail", "worker"), env, log)
    processes.append(worker)
    assert smtp.wait_until(lambda r: r.held >= 4, 60), log.read_text()
    assert wait_for(lambda: sent_count(app) == 5), "the five accepted messages are recorded"

    worker.send_signal(signal.SIGKILL)
    died = datetime.now(UTC)
    worker.wait(30)
    smtp.release()
    in_flight = {message_id(m) for m in smtp.messages[5:]}  # accepted, never confirmed to the dead worker
    held = [r for r in outbox_rows(app) if r.status == "sending"]
    assert len(in_flight) == 4
    assert {r.message_id for r in held} >= in_flight
    assert len(held) <= 4 * 2, "a claim covers only what a connection holds (leases follow the work)"

    other = Worker(app)
    assert other.drain() == 40 - 5 - len(held), "the rest is delivered at once by another worker"
    assert all(r.status in ("sent", "sending") for r in outbox_rows(app))
    ttl = app.config["OUTBOX_CLAIM_TTL"]
    assert ttl <= 30, "with default settings a dead worker's mail is taken over within 30 s"
    clock.set(died + timedelta(seconds=ttl + 1))  # its last heartbeat was before it died
    assert Worker(app).drain() == len(held)
    received = smtp.wait_for(40 + len(in_flight))
    counts = Counter(message_id(m) for m in received)
    assert set(counts) == set(expected), "nothing lost"
    assert {k for k, n in counts.items() if n > 1} == in_flight, "repeats only what was in flight"
    for repeated in in_flight:
        copies = [m.data for m in received if message_id(m) == repeated]
        assert copies[0] == copies[1], "the repeat is the same message, Message-ID and all"
    assert {r.status for r in outbox_rows(app)} == {"sent"}


def test_sigterm_finishes_the_messages_in_hand_and_leaves_the_rest_queued(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, processes: Processes,
        tmp_path: Path) -> None:
    clock.set(datetime.now(UTC))
    queue_many(app, 12)
    smtp.hold(after=2)
    log = tmp_path / "worker.log"
    worker = start_process(flask_command("mail", "worker"), process_env(app, MAIL_CONNECTIONS=4), log)
    processes.append(worker)
    assert smtp.wait_until(lambda r: r.held >= 1, 60), log.read_text()
    worker.send_signal(signal.SIGTERM)
    # Let the server answer only once the worker has taken the signal in (else it sends on).
    assert wait_for(lambda: "stopping: finishing" in log.read_text(), 30), log.read_text()
    smtp.release()
    assert worker.wait(30) == 0, log.read_text()
    assert "stopped" in log.read_text()
    delivered = len(smtp.messages)
    assert 3 <= delivered <= 3 + 4
    statuses = Counter((r.status, r.attempts) for r in outbox_rows(app))
    assert statuses == {("sent", 1): delivered, ("queued", 0): 12 - delivered}


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
    assert len(per_connection) >= 2
    assert {r.status for r in outbox_rows(app)} == {"sent"}


@pytest.mark.slow
@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_the_rate_limit_holds_across_two_workers_sharing_redis(
        app: Flask, smtp: SMTPServer, clock: FrozenClock, processes: Processes, tmp_path: Path,
        redis_url: dict[str, Any]) -> None:
    clock.set(datetime.now(UTC))
    queue_many(app, 200)
    env = process_env(app, MAIL_RATE_LIMIT="10/second", MAIL_CONNECTIONS=4,
                      REDIS_URL=redis_url["REDIS_URL"], REDIS_KEY_PREFIX=redis_url["REDIS_KEY_PREFIX"])
    for name in ("a", "b"):
        processes.append(start_process(flask_command("mail", "worker"), env,
                                       tmp_path / f"worker-{name}.log"))
    assert smtp.wait_until(lambda r: len(r.received) >= 5, 60), "both workers are sending"
    # A measurement of a rate needs the real clock: 100 messages at 10/s take 10 s.
    first = len(smtp.messages)
    started = time.monotonic()
    assert smtp.wait_until(lambda r: len(r.received) >= first + 100, 30)
    rate = 100 / (time.monotonic() - started)
    assert 9.0 <= rate <= 11.0, f"{rate:.2f} messages/s for a limit of 10/s"
    with app.app_context():
        per_worker = db.session.execute(select(MailWorker.worker_id, MailWorker.sent)).all()
        db.session.commit()
    assert len(per_worker) == 2
    assert all(sent > 10 for _, sent in per_worker), f"both workers shared the limit: {per_worker}"
