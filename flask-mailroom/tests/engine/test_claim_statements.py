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

from flask_mailroom.clock import FrozenClock
from flask_mailroom.engine import claims, lanes
from flask_mailroom.engine.worker import Worker
from flask_mailroom.queue import OutboxMessage
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
                rows, _ = claims.take_telling(connection, WORKER, moment, moment + timedelta(minutes=5), 5)
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
    assert [(len(rows), more) for rows, more in taken] == [(2, True), (2, True), (1, False), (0, False)]
    ids = [row.id for rows, _ in taken for row in rows]
    assert ids == sorted(set(ids))  # oldest first, none twice


@pytest.fixture
def counted_claims(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many rows each claim took, in order, while the test runs."""
    taken: list[int] = []
    real = claims.take_telling

    def counting(*args: Any, **kwargs: Any) -> tuple[list[Any], bool]:
        rows, more = real(*args, **kwargs)
        taken.append(len(rows))
        return rows, more

    monkeypatch.setattr(claims, "take_telling", counting)
    return taken


@pytest.fixture
def running(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], lanes.Lanes]]:
    """``running()`` starts a worker (two connections, one reserved; polling only every 30 s) and
    returns its lanes once every connection waits idle and notifications are heard."""
    made: list[lanes.Lanes] = []
    real_init = lanes.Lanes.__init__

    def keep(self: lanes.Lanes, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(lanes.Lanes, "__init__", keep)
    app.config.update(MAIL_CONNECTIONS=2, MAIL_RESERVED_CONNECTIONS=1)
    worker = Worker(app)
    thread = threading.Thread(target=worker.run_forever, args=(30.0,), daemon=True)

    def start() -> lanes.Lanes:
        thread.start()
        assert wait_for(lambda: bool(made) and idle(made[0]), 30)
        return made[0]

    yield start
    worker.stop.set()
    thread.join(30)
    assert not thread.is_alive()


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
def test_an_account_email_costs_its_worker_one_claim(app: Flask, smtp: SMTPServer, counted_claims: list[int],
                                                     running: Callable[[], lanes.Lanes]) -> None:
    found = running()
    before = len(counted_claims)
    for number in range(1, 4):
        queue_many(app, 1, prefix=f"reset{number}")
        assert wait_for(lambda: sent(app) == number and idle(found), 30)  # noqa: B023
    # One claim each, by the reserved connection woken for it: no second look for more, no
    # other connection called in.
    assert counted_claims[before:] == [1, 1, 1]
    assert len(smtp.wait_for(3)) == 3
