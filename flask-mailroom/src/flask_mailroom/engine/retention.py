"""Retention: finished outbox rows keep their metadata but drop their bodies after a while.

A row that was sent, failed or skipped more than ``OUTBOX_RETENTION_DAYS`` ago loses its raw
bytes and its deferred parameters (an announcement copy's name and unsubscribe token); its
Message-ID, envelope, subject, status, attempts, error and times stay for the operator, and
``purged_at`` says when the body went. ``flask mail purge`` runs it at once; every worker runs
it in the background every ``OUTBOX_PURGE_INTERVAL`` seconds (``purge_if_due``). Each batch is
its own short transaction, so workers keep claiming while a large backlog is purged.
"""

from __future__ import annotations

import logging
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
