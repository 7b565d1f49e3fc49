"""Taking outbox rows for delivery, so that no two workers ever hold the same row.

A claim is ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n) RETURNING``: on
PostgreSQL concurrent workers skip each other's rows instead of waiting or taking them twice; on
SQLite the statement runs under the database's single write lock (BEGIN IMMEDIATE). Each claim
counts one attempt and lasts a time-to-live; rows whose claim expired (their worker died) are put
back in the queue first. Every statement here walks the ``(status, priority, next_attempt_at)``
index, so a claim reads only the rows it takes however many sent rows the table keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, select, update

from flask_mailroom.models.outbox import (
    BULK,
    COLUMNS,
    PRIORITY,
    Claimed,
    OutboxMessage,
    OutboxStatus,
)

QUEUED = OutboxStatus.QUEUED.value
SENDING = OutboxStatus.SENDING.value
TABLE = OutboxMessage.__table__




def due_condition(moment: datetime) -> ColumnElement[bool]:
    """Rows ready to deliver: queued and due."""
    return and_(TABLE.c.status == QUEUED, TABLE.c.next_attempt_at <= moment)


def relax(connection: Connection) -> None:
    """On PostgreSQL, let this transaction's commit return before its WAL reaches the disk.

    A claim lost to a database crash leaves its rows queued as if never claimed: the cost is a
    possible repeat after such a crash, never a loss.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO off")


def recover(connection: Connection, moment: datetime) -> int:
    """Put rows whose claim expired back in the queue; how many."""
    result = connection.execute(
        update(TABLE).where(TABLE.c.status == SENDING, TABLE.c.claimed_until < moment)
        .values(status=QUEUED, claimed_by=None, claimed_until=None))
    return int(result.rowcount or 0)


def take(connection: Connection, worker_id: str, moment: datetime, until: datetime,
         limit: int, account_only: bool = False) -> list[Claimed]:
    """Claim up to ``limit`` due rows until ``until``, account mail first (or only), counting the attempt."""
    condition = due_condition(moment)
    if account_only:
        condition = and_(condition, TABLE.c.priority < PRIORITY[BULK])
    due = (select(TABLE.c.id).where(condition)
           .order_by(TABLE.c.priority, TABLE.c.next_attempt_at, TABLE.c.id)
           .limit(limit).with_for_update(skip_locked=True))
    rows = connection.execute(
        update(TABLE).where(TABLE.c.id.in_(due.scalar_subquery()))
        .values(status=SENDING, claimed_by=worker_id, claimed_until=until,
                attempts=TABLE.c.attempts + 1)
        .returning(*COLUMNS)
    ).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: (c.priority, c.id))


def claim(connection: Connection, worker_id: str, moment: datetime, until: datetime,
          limit: int, account_only: bool = False, recovering: bool = True) -> list[Claimed]:
    """One transaction: recover expired claims (unless told not to), then take a few rows."""
    with connection.begin():
        return claim_in(connection, worker_id, moment, until, limit, account_only, recovering)


def claim_in(connection: Connection, worker_id: str, moment: datetime, until: datetime,
             limit: int, account_only: bool = False, recovering: bool = True) -> list[Claimed]:
    """``claim`` inside the caller's transaction (which may read more before it commits)."""
    relax(connection)
    if recovering:
        recover(connection, moment)
    return take(connection, worker_id, moment, until, limit, account_only)


def renew(connection: Connection, worker_id: str, ids: Sequence[int], until: datetime) -> set[int]:
    """Extend this worker's claim on those of the rows ``ids`` it still holds; their ids."""
    if not ids:
        return set()
    with connection.begin():
        relax(connection)
        held = connection.execute(
            update(TABLE).where(TABLE.c.id.in_(list(ids)),
                                TABLE.c.claimed_by == worker_id, TABLE.c.status == SENDING)
            .values(claimed_until=until).returning(TABLE.c.id))
        return set(held.scalars())
