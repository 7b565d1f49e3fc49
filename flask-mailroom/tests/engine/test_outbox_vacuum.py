"""The worker's VACUUM of the outbox where autovacuum is off or lags: run when the dead rows pass
MAIL_VACUUM_DEAD_ROWS, at most every MAIL_VACUUM_INTERVAL seconds, by one worker at a time."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask_mail import Message
from sqlalchemy import text, update

from flask_mailroom import Mail
from flask_mailroom.clock import FrozenClock
from flask_mailroom.compose.deferred import Intent
from flask_mailroom.engine import retention
from flask_mailroom.models.outbox import BULK
from flask_mailroom.queue import OutboxMessage
from flask_mailroom.store import db

STATS = "SELECT n_dead_tup, last_vacuum FROM pg_stat_user_tables WHERE relid = 'outbox'::regclass"


@pytest.fixture
def app_config() -> dict[str, Any]:
    """A low threshold, so a test makes enough dead rows in a moment."""
    return {"MAIL_VACUUM_DEAD_ROWS": 500, "MAIL_VACUUM_INTERVAL": 60}


def dead_rows(app: Flask, mail: Mail, count: int) -> Any:
    """Queue ``count`` copies and update each once: ``count`` dead row versions, reported at once (the
    dead rows earlier tests left vacuumed first); when the outbox was last vacuumed before them."""
    last = None
    if db_backend_of(app) == "postgresql":
        with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM outbox")
        last = stats(app)[1]
    mail.register_builder("news", lambda to, params: Message("News", recipients=[to], body="Hi",
                                                             sender="news@example.com"))
    with app.app_context():
        mail.defer_many("news", [Intent(f"reader{n}@example.com", {"n": n}) for n in range(count)],
                        kind=BULK, subject="News", sender="news@example.com")
        db.session.commit()
        if db.session.connection().dialect.name == "postgresql":
            db.session.execute(text("SELECT pg_stat_force_next_flush()"))
        db.session.execute(update(OutboxMessage).values(attempts=1))
        db.session.commit()
    return last


def db_backend_of(app: Flask) -> str:
    """The app's database, by its dialect's name."""
    with app.app_context():
        return db.engine.dialect.name


def stats(app: Flask) -> tuple[int, Any]:
    """The outbox's dead rows and last manual VACUUM, as PostgreSQL's statistics tell them."""
    with app.app_context(), db.engine.connect() as connection:
        dead, last = connection.exec_driver_sql(STATS).one()
    return int(dead), last


def test_due_past_the_threshold_or_a_fifth_of_the_live_rows() -> None:
    assert not retention.vacuum_due(10_000, 100_000, 50_000)
    assert retention.vacuum_due(20_000, 100_000, 50_000)
    assert retention.vacuum_due(50_000, 10_000_000, 50_000)
    assert not retention.vacuum_due(900, 0, 50_000)
    assert retention.vacuum_due(600, 0, 500)
    assert not retention.vacuum_due(10**9, 0, 0)


def test_vacuums_when_dead_rows_pass_the_threshold_then_waits_for_the_interval(
        app: Flask, mail: Mail, clock: FrozenClock, db_backend: str,
        caplog: pytest.LogCaptureFixture) -> None:
    before = dead_rows(app, mail, 800)
    caplog.set_level("INFO", logger=retention.__name__)
    if db_backend == "sqlite":  # nothing of the kind there: no thread, nothing logged
        assert retention.vacuum_if_due(app, wait=True) is None
        with app.app_context():
            assert retention.vacuum_outbox(1) is None
        assert "vacuumed the outbox" not in caplog.text
        return
    assert retention.vacuum_if_due(app, wait=True) is not None
    assert retention.vacuum_if_due(app, wait=True) is None  # checked a moment ago
    dead, last = stats(app)
    assert last is not None
    assert last != before
    assert dead == 0
    assert "vacuumed the outbox" in caplog.text
    assert "800 dead rows" in caplog.text
    clock.advance(61)
    assert retention.vacuum_if_due(app, wait=True) is not None  # checked again: nothing due
    assert caplog.text.count("vacuumed the outbox") == 1


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_below_the_threshold_nothing_is_vacuumed(app: Flask, mail: Mail) -> None:
    before = dead_rows(app, mail, 300)
    assert stats(app)[0] == 300
    retention.vacuum_if_due(app, wait=True)
    assert stats(app) == (300, before)


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_one_worker_at_a_time(app: Flask, mail: Mail) -> None:
    before = dead_rows(app, mail, 800)
    with app.app_context(), db.engine.connect() as other:
        other.exec_driver_sql(f"SELECT pg_advisory_lock({retention.VACUUM_LOCK})")
        assert retention.vacuum_outbox(500) is None  # another worker is vacuuming
        other.exec_driver_sql(f"SELECT pg_advisory_unlock({retention.VACUUM_LOCK})")
        other.commit()
    assert stats(app) == (800, before)
    with app.app_context():
        assert retention.vacuum_outbox(500) == (800, 800)
    assert stats(app)[1] != before


@pytest.mark.parametrize("app_config", [{"MAIL_VACUUM_DEAD_ROWS": 0}])
@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_zero_means_never(app: Flask, mail: Mail) -> None:
    before = dead_rows(app, mail, 800)
    assert retention.vacuum_if_due(app, wait=True) is None
    assert stats(app) == (800, before)
