"""Taking outbox rows for delivery, so that no two workers ever hold the same row.

A claim is ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n) RETURNING``: on
PostgreSQL concurrent workers skip each other's rows instead of waiting or taking them twice; on
SQLite the statement runs under the database's single write lock (BEGIN IMMEDIATE). Each claim
counts one attempt and lasts a time-to-live; rows whose claim expired (their worker died) are put
back in the queue first. A claim walks the partial index of queued rows in claim order
(``ix_outbox_due``), recovery the one of rows being sent, so a claim reads only the rows it
takes however many sent rows the table keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    Update,
    and_,
    bindparam,
    func,
    literal_column,
    select,
    update,
)

from flask_mailroom.deliverability.suppression import LookedUp
from flask_mailroom.models.deliverability import Suppression
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
SUPPRESSIONS = Suppression.__table__
# The statuses as literals, not parameters: a prepared statement's generic plan can then still
# use the partial indexes on queued and on sending rows.
IS_QUEUED = TABLE.c.status == literal_column(f"'{QUEUED}'")
IS_SENDING = TABLE.c.status == literal_column(f"'{SENDING}'")


def due_condition(moment: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """Rows ready to deliver: queued and due."""
    return and_(IS_QUEUED, TABLE.c.next_attempt_at <= moment)


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
        update(TABLE).where(IS_SENDING, TABLE.c.claimed_until < moment)
        .values(status=QUEUED, claimed_by=None, claimed_until=None))
    return int(result.rowcount or 0)


def take_statement(moment: datetime | ColumnElement[datetime], limit: int | ColumnElement[int],
                   account_only: bool = False) -> Select[tuple[int]]:
    """The ids of up to ``limit`` due rows, account mail first (or only), locked, skipping rows
    other workers have locked."""
    return (select(TABLE.c.id).where(claimable(moment, account_only))
            .order_by(TABLE.c.priority, TABLE.c.next_attempt_at, TABLE.c.id)
            .limit(limit).with_for_update(skip_locked=True))


def claimable(moment: datetime | ColumnElement[datetime], account_only: bool) -> ColumnElement[bool]:
    """Rows a claim may take: due, and account mail when ``account_only``."""
    condition = due_condition(moment)
    if account_only:
        condition = and_(condition, TABLE.c.priority < PRIORITY[BULK])
    return condition


@cache
def take_update(account_only: bool) -> Update:
    """The claim, built once per kind with its values bound at each claim: a statement reused keeps
    its cache key, so a claim skips building the statement and its key again."""
    due = take_statement(bindparam("moment", type_=TABLE.c.next_attempt_at.type),
                         bindparam("limit", type_=Integer()), account_only)
    return (update(TABLE).where(TABLE.c.id.in_(due.scalar_subquery()))
            .values(status=SENDING, claimed_by=bindparam("worker", type_=TABLE.c.claimed_by.type),
                    claimed_until=bindparam("until", type_=TABLE.c.claimed_until.type),
                    attempts=TABLE.c.attempts + 1)
            .returning(*COLUMNS))


def take(connection: Connection, worker_id: str, moment: datetime, until: datetime,
         limit: int, account_only: bool = False) -> list[Claimed]:
    """Claim up to ``limit`` due rows until ``until``, account mail first (or only), counting the attempt."""
    rows = connection.execute(take_update(account_only),
                              {"moment": moment, "limit": limit, "worker": worker_id, "until": until})
    return sorted((Claimed(*row) for row in rows), key=_claim_order)


@cache
def take_counting(account_only: bool) -> Select[Any]:
    """The claim on PostgreSQL, telling as well whether due rows were left behind and each row's
    suppression by its stored address key: beside it, the statement counts due rows up to one more
    than it may take, without locking them (a row locked for the count would be skipped by a
    claim running at the same moment)."""
    taken = take_update(account_only).returning(TABLE.c.address_key).cte("taken")
    moment = bindparam("moment", type_=TABLE.c.next_attempt_at.type)
    ahead = (select(TABLE.c.id).where(claimable(moment, account_only))
             .limit(bindparam("seen", type_=Integer())))
    seen = select(func.count()).select_from(ahead.subquery()).scalar_subquery()
    scope = (select(SUPPRESSIONS.c.scope).where(SUPPRESSIONS.c.address_key == taken.c.address_key)
             .scalar_subquery())
    # The statement is its own transaction: a claim that took rows relaxes its own commit (as
    # ``relax`` does), since set_config(..., true) lasts until that transaction ends.
    relaxed = func.set_config("synchronous_commit", "off", True)
    return select(*taken.c, scope.label("scope"), seen.label("seen"), relaxed.label("relaxed"))


class Telling(NamedTuple):
    """What a claim on PostgreSQL took, whether due rows were left, and each row's suppression."""

    rows: list[Claimed]
    more: bool
    looked_up: LookedUp


def take_telling(connection: Connection, worker_id: str, moment: datetime, until: datetime,
                 limit: int, account_only: bool = False) -> Telling:
    """``take`` on PostgreSQL in one statement, with whether more due rows were left behind (rows
    another claim takes at that moment count too: a connection may then look once in vain)."""
    found = connection.execute(take_counting(account_only),
                               {"moment": moment, "limit": limit, "seen": limit + 1,
                                "worker": worker_id, "until": until}).all()
    width = len(COLUMNS)
    rows = sorted((Claimed(*row[:width]) for row in found), key=_claim_order)
    looked_up = {row[0]: (row[width], row[width + 1]) for row in found}
    return Telling(rows, bool(found) and int(found[0][-2]) > limit, looked_up)


def _claim_order(row: Claimed) -> tuple[int, int]:
    """Account mail first, then oldest first."""
    return row.priority, row.id


def claim(connection: Connection, worker_id: str, moment: datetime, until: datetime,
          limit: int, account_only: bool = False, recovering: bool = True) -> list[Claimed]:
    """One transaction: recover expired claims (unless told not to), then take a few rows."""
    with connection.begin():
        return claim_in(connection, worker_id, moment, until, limit, account_only, recovering)


def claim_in(connection: Connection, worker_id: str, moment: datetime, until: datetime,
             limit: int, account_only: bool = False, recovering: bool = True) -> list[Claimed]:
    """``claim`` inside the caller's transaction (which may read more before it commits).

    The commit is relaxed only when something was written: ``synchronous_commit`` counts when the
    transaction commits, and a claim that found nothing (most claims of an idle queue, and the
    second look after each account email) writes nothing to wait for, so it saves the round trip."""
    recovered = recover(connection, moment) if recovering else 0
    rows = take(connection, worker_id, moment, until, limit, account_only)
    if rows or recovered:
        relax(connection)
    return rows


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
