"""Claims on PostgreSQL: one statement in autocommit that relaxes its own commit and tells whether
due rows were left behind, so a connection neither calls another in nor looks again for rows that
are not there."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from flask_mailroom.clock import FrozenClock
from flask_mailroom.deliverability import suppression as deliverability
from flask_mailroom.engine import claims, lanes, wakeup
from flask_mailroom.engine.turns import Turns
from flask_mailroom.engine.worker import Worker
from flask_mailroom.queue import OutboxMessage
from flask_mailroom.rules.suppression import Verdict
from flask_mailroom.store import db

from support.outbox import queue_many, wait_for
from support.smtp import SMTPServer

WORKER = "test-worker"
ON_POSTGRESQL = pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)


@ON_POSTGRESQL
def test_a_claim_that_took_rows_relaxes_its_own_commit(app: Flask, clock: FrozenClock) -> None:
    queue_many(app, 1)
    moment = clock.now() + timedelta(seconds=1)
    with app.app_context(), db.engine.connect() as connection:
        settings = []
        for _ in range(2):  # in autocommit the statement is its own transaction; here, one to look into
            with connection.begin():
                rows = claims.take_telling(connection, WORKER, moment, moment + timedelta(minutes=5), 5).rows
                settings.append((len(rows), connection.exec_driver_sql("SHOW synchronous_commit").scalar()))
    assert settings == [(1, "off"), (0, "on")]


@ON_POSTGRESQL
def test_a_claim_tells_whether_due_rows_were_left_behind(app: Flask, clock: FrozenClock) -> None:
    queue_many(app, 5)
    moment = clock.now() + timedelta(seconds=1)
    until = moment + timedelta(minutes=5)
    with app.app_context(), db.engine.connect() as connection:
        taken = [claims.take_telling(connection, WORKER, moment, until, 2) for _ in range(4)]
        connection.commit()
    assert [(len(t.rows), t.more) for t in taken] == [(2, True), (2, True), (1, False), (0, False)]
    ids = [row.id for t in taken for row in t.rows]
    assert ids == sorted(set(ids))  # oldest first, none twice


@ON_POSTGRESQL
def test_a_claim_brings_the_suppression_of_each_single_recipient_along(app: Flask,
                                                                      clock: FrozenClock) -> None:
    with app.app_context():
        deliverability.record_bounce("gone0@example.com", "hard", "test", "550 gone")
        deliverability.record_complaint("quiet0@example.com", "test")  # stops bulk mail only
        db.session.commit()
    for prefix in ("gone", "quiet", "fine"):
        queue_many(app, 1, prefix=prefix)
    # Stored under its first recipient's key, which says nothing of the second's suppression.
    queue_many(app, 1, prefix="pair", recipients=["pair0@example.com", "Gone0@Example.com"])
    moment = clock.now() + timedelta(seconds=1)
    until = moment + timedelta(minutes=5)
    with app.app_context(), db.engine.connect() as connection:
        statements: list[str] = []
        event.listen(connection, "before_cursor_execute", lambda *args: statements.append(args[2]))
        screened = []
        for limit in (3, 1):
            telling = claims.take_telling(connection, WORKER, moment, until, limit)
            screen = deliverability.screen_batch(connection, telling.rows, moment, telling.looked_up)
            screened.append([(row.recipients[0], screen.of(row.id)) for row in telling.rows])
        connection.commit()
    gone, quiet, fine = screened[0]
    assert (gone[0], gone[1].verdict if gone[1] else None) == ("gone0@example.com", Verdict.SUPPRESSED)
    assert (quiet, fine) == (("quiet0@example.com", None), ("fine0@example.com", None))
    [(_, pair)] = screened[1]
    assert pair is not None
    assert pair.recipients == ("pair0@example.com",)
    # The three single-recipient rows cost one statement, the claim; the pair is looked up again.
    assert [statement.split()[:2] for statement in statements] == [
        ["WITH", "taken"], ["WITH", "taken"], ["SELECT", "suppressions.address_key,"]]


@pytest.fixture
def counted_claims(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many rows each claim took, in order, while the test runs."""
    taken: list[int] = []
    real = claims.take_telling

    def counting(*args: Any, **kwargs: Any) -> claims.Telling:
        telling = real(*args, **kwargs)
        taken.append(len(telling.rows))
        return telling

    monkeypatch.setattr(claims, "take_telling", counting)
    return taken


@pytest.fixture
def running(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], list[lanes.Lanes]]]:
    """``running(n)`` starts ``n`` workers (two connections each, one reserved; polling only every
    30 s; a heartbeat every second) and returns their lanes once every connection waits idle,
    notifications are heard and each worker has seen the others alive."""
    made: list[lanes.Lanes] = []
    seen: list[Turns] = []
    keep(monkeypatch, lanes.Lanes, made)
    keep(monkeypatch, Turns, seen)
    app.config.update(MAIL_CONNECTIONS=2, MAIL_RESERVED_CONNECTIONS=1, OUTBOX_CLAIM_TTL=4)
    # A worker whose turn it was not looks again only after the test (wakeup's own test covers it).
    monkeypatch.setattr(wakeup, "CATCH_UP_SECONDS", 300.0)
    workers: list[Worker] = []
    threads: list[threading.Thread] = []

    def start(count: int) -> list[lanes.Lanes]:
        for _ in range(count):
            workers.append(Worker(app))
            threads.append(threading.Thread(target=workers[-1].run_forever, args=(30.0,), daemon=True))
            threads[-1].start()
        assert wait_for(lambda: len(made) == len(seen) == count and all(map(idle, made))
                        and all(len(turns.peers) == count for turns in seen), 30)
        return made

    yield start
    for worker in workers:
        worker.stop.set()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()


def keep(monkeypatch: pytest.MonkeyPatch, kind: type, made: list[Any]) -> None:
    """Keep in ``made`` every instance of ``kind`` made while the test runs."""
    real_init = kind.__init__

    def keeping(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(kind, "__init__", keeping)


def idle(found: lanes.Lanes) -> bool:
    """Every connection waits idle and new mail is announced."""
    return found.hears_new_mail() and len(found.waiting[True]) + len(found.waiting[False]) == found.total


def sent(app: Flask) -> int:
    """How many outbox rows are sent."""
    with app.app_context():
        count = db.session.query(OutboxMessage).filter_by(status="sent").count()
        db.session.commit()
        return count


@ON_POSTGRESQL
@pytest.mark.parametrize("workers", [1, 2])
def test_an_account_email_costs_one_claim_however_many_workers_run(
        app: Flask, smtp: SMTPServer, counted_claims: list[int],
        running: Callable[[int], list[lanes.Lanes]], workers: int) -> None:
    found = running(workers)
    before = len(counted_claims)
    for number in range(1, 4):
        queue_many(app, 1, prefix=f"reset{number}")
        assert wait_for(lambda: sent(app) == number and all(map(idle, found)), 30)  # noqa: B023
    # One claim each, by the reserved connection woken for it in the worker whose turn it was:
    # no second look for more, no other connection called in, no other worker looking in vain.
    assert counted_claims[before:] == [1, 1, 1]
    assert len(smtp.wait_for(3)) == 3
