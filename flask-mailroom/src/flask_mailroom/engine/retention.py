"""Retention: finished outbox rows keep their metadata but drop their bodies after a while.

A row that was sent, failed or skipped more than ``OUTBOX_RETENTION_DAYS`` ago loses its raw
bytes and its deferred parameters (an announcement copy's name and unsubscribe token); its
Message-ID, envelope, subject, status, attempts, error and times stay for the operator, and
``purged_at`` says when the body went. ``flask mail purge`` runs it at once; every worker runs
it in the background every ``OUTBOX_PURGE_INTERVAL`` seconds (``purge_if_due``). Each batch is
its own short transaction, so workers keep claiming while a large backlog is purged.

Every copy leaves two dead row versions behind it (claimed, then sent). Where autovacuum is off or
lags (the storage settings m0003 gives the outbox only help where it runs), a worker checks the
outbox's dead rows every ``MAIL_VACUUM_INTERVAL`` seconds and runs ``VACUUM (ANALYZE) outbox``
once they pass ``MAIL_VACUUM_DEAD_ROWS`` (``vacuum_if_due``, PostgreSQL only, one worker at a time).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import ColumnElement, Connection, and_, or_, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import JSON

from flask_mailroom.models.outbox import OutboxMessage, OutboxStatus
from flask_mailroom.store import db, state

log = logging.getLogger(__name__)

TABLE = OutboxMessage.__table__
BATCH_SIZE = 1000
# At most this many batches per background run; a larger backlog goes on at the next loop.
BATCHES_PER_RUN = 20
NEXT_RUN = "retention_next_run"
SENT_OR_SKIPPED = (OutboxStatus.SENT.value, OutboxStatus.SKIPPED.value)
FAILED = OutboxStatus.FAILED.value


class without_params(FunctionElement[Any]):  # noqa: N801  (an SQL function, named like one)
    """SQL: a JSON meta value without its ``params`` key (what a deferred row keeps of its reader)."""

    type = JSON()
    inherit_cache = True


@compiles(without_params, "sqlite")
def _without_params_sqlite(element: without_params, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite's JSON1 removes the key."""
    return f"json_remove({compiler.process(element.clauses, **kw)}, '$.params')"


@compiles(without_params, "postgresql")
def _without_params_postgresql(element: without_params, compiler: SQLCompiler, **kw: Any) -> str:
    """PostgreSQL removes a key from jsonb; the column is json."""
    return f"(({compiler.process(element.clauses, **kw)})::jsonb - 'params')::json"


def cutoff(moment: datetime, days: int) -> datetime:
    """Rows finished before this moment lose their bodies."""
    return moment - timedelta(days=days)


def expired(before: datetime) -> ColumnElement[bool]:
    """Finished rows (sent, skipped or failed) before ``before`` whose body is still there."""
    return and_(TABLE.c.purged_at.is_(None), or_(
        and_(TABLE.c.status.in_(SENT_OR_SKIPPED), TABLE.c.sent_at < before),
        and_(TABLE.c.status == FAILED, TABLE.c.failed_at < before)))


def purge_batch(connection: Connection, before: datetime, moment: datetime, limit: int) -> int:
    """Drop the bodies of up to ``limit`` expired rows in one transaction; how many."""
    chosen = (select(TABLE.c.id).where(expired(before)).limit(limit)
              .with_for_update(skip_locked=True))
    with connection.begin():
        result = connection.execute(
            update(TABLE).where(TABLE.c.id.in_(chosen.scalar_subquery()))
            .values(raw=b"", meta=without_params(TABLE.c.meta), purged_at=moment))
        return int(result.rowcount or 0)


def purge(moment: datetime, days: int, *, batch_size: int = BATCH_SIZE,
          max_batches: int | None = None) -> int:
    """Drop the bodies of rows finished more than ``days`` before ``moment``, batch by batch."""
    before, total, batches = cutoff(moment, days), 0, 0
    with db.engine.connect() as connection:
        while max_batches is None or batches < max_batches:
            done = purge_batch(connection, before, moment, batch_size)
            total, batches = total + done, batches + 1
            if done < batch_size:
                break
    return total


def purge_if_due(app: Flask) -> int:
    """The worker's hook: purge once every OUTBOX_PURGE_INTERVAL seconds (0: never); errors are
    logged, never raised, so delivery goes on."""
    interval = app.config["OUTBOX_PURGE_INTERVAL"]
    moment, services = state(app).clock.now(), state(app).services
    if interval <= 0 or moment < services.get(NEXT_RUN, moment):
        return 0
    try:
        with app.app_context():
            done = purge(moment, app.config["OUTBOX_RETENTION_DAYS"], max_batches=BATCHES_PER_RUN)
    except Exception:
        log.exception("purging old message bodies failed; trying again later")
        done = 0
    more = done >= BATCH_SIZE * BATCHES_PER_RUN
    services[NEXT_RUN] = moment if more else moment + timedelta(seconds=interval)
    return done


# --- vacuum where autovacuum is off or lagging ---------------------------------------------------

# Every copy leaves two dead row versions (claimed, then sent). Besides MAIL_VACUUM_DEAD_ROWS, a
# VACUUM is due once the dead rows pass this share of the live ones (and VACUUM_MIN_DEAD).
VACUUM_SHARE = 0.2
VACUUM_MIN_DEAD = 1000
VACUUM_NEXT_CHECK = "vacuum_next_check"
VACUUM_THREAD = "vacuum_thread"
# Any constant of this package's own: the advisory lock only one worker at a time holds to vacuum.
VACUUM_LOCK = 0x6D61696C76616375  # "mailvacu"
DEAD_ROWS = "SELECT n_dead_tup, n_live_tup FROM pg_stat_user_tables WHERE relid = 'outbox'::regclass"


def vacuum_due(dead: int, live: int, threshold: int) -> bool:
    """Whether ``dead`` rows call for a VACUUM: ``threshold`` of them (0: never), or a fifth of the
    live rows (at least VACUUM_MIN_DEAD), whichever comes first."""
    if threshold <= 0:
        return False
    return dead >= threshold or (dead >= VACUUM_MIN_DEAD and dead >= VACUUM_SHARE * live)


def vacuum_outbox(threshold: int) -> tuple[int, int] | None:
    """PostgreSQL: ``VACUUM (ANALYZE) outbox`` when its dead rows pass the threshold, unless another
    worker is doing it (an advisory lock); (dead, live) rows it found when it did, else None."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if connection.dialect.name != "postgresql":
            return None
        dead, live = connection.exec_driver_sql(DEAD_ROWS).one()
        if not vacuum_due(int(dead), int(live), threshold):
            return None
        if not connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({VACUUM_LOCK})").scalar():
            return None
        try:
            connection.exec_driver_sql("VACUUM (ANALYZE) outbox")
        finally:
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({VACUUM_LOCK})")
    return int(dead), int(live)


def _vacuum_logged(app: Flask, threshold: int) -> None:
    """Run ``vacuum_outbox`` in the application's context and log what it did; errors are logged."""
    started = time.perf_counter()  # only for the log line
    try:
        with app.app_context():
            found = vacuum_outbox(threshold)
    except Exception:
        log.exception("vacuuming the outbox failed; trying again later")
        return
    if found is not None:
        log.info("vacuumed the outbox in %.1f s: it had %d dead rows and %d live "
                 "(MAIL_VACUUM_DEAD_ROWS=%d)", time.perf_counter() - started, found[0], found[1], threshold)


def _on_postgresql(app: Flask) -> bool:
    """Whether the application's mail tables are on PostgreSQL (SQLite has nothing of the kind)."""
    with app.app_context():
        return bool(db.engine.dialect.name == "postgresql")


def vacuum_if_due(app: Flask, *, wait: bool = False) -> threading.Thread | None:
    """The worker's hook: every MAIL_VACUUM_INTERVAL seconds, vacuum the outbox in a thread of its
    own when its dead rows pass MAIL_VACUUM_DEAD_ROWS (a heartbeat must not wait for a VACUUM);
    the thread started, if any (``wait``: joined first, for tests)."""
    threshold, interval = app.config["MAIL_VACUUM_DEAD_ROWS"], app.config["MAIL_VACUUM_INTERVAL"]
    moment, services = state(app).clock.now(), state(app).services
    running = services.get(VACUUM_THREAD)
    if threshold <= 0 or moment < services.get(VACUUM_NEXT_CHECK, moment) or (
            running is not None and running.is_alive()) or not _on_postgresql(app):
        return None
    services[VACUUM_NEXT_CHECK] = moment + timedelta(seconds=max(interval, 1))
    thread = threading.Thread(target=_vacuum_logged, args=(app, threshold), name="outbox-vacuum",
                              daemon=True)
    services[VACUUM_THREAD] = thread
    thread.start()
    if wait:
        thread.join()
    return thread


def vacuum_finished(app: Flask, seconds: float = 60.0) -> None:
    """Wait for the vacuum thread this worker started, if any: a run must not end (and its engine be
    disposed) while that thread still holds a connection."""
    thread = state(app).services.get(VACUUM_THREAD)
    if thread is not None:
        thread.join(seconds)
