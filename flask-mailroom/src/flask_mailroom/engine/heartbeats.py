"""What running workers report (``mail_workers``) and what operators read: lanes, rate, breakers.

Each worker process writes one row at every heartbeat: its connections, the rows it holds, its
counters, its recent sending rate and its circuit breaker's state; it deletes the row when it
stops. Rows not refreshed for a minute belong to workers that died and are not shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from flask_mailroom.engine import tally
from flask_mailroom.models.outbox import BULK, TRANSACTIONAL, OutboxMessage, OutboxStatus
from flask_mailroom.models.workers import MailWorker

TABLE = MailWorker.__table__
OUTBOX = OutboxMessage.__table__
STALE = timedelta(seconds=60)
# A worker that has not reported for this long (three heartbeats) takes no more turns at account mail.
TURN_STALE = timedelta(seconds=15)
RATE_WINDOW = timedelta(seconds=60)
LANES = (TRANSACTIONAL, BULK)


def publish(connection: Connection, worker_id: str, values: dict[str, Any]) -> None:
    """Insert or refresh this worker's row (one transaction)."""
    with connection.begin():
        done = connection.execute(update(TABLE).where(TABLE.c.worker_id == worker_id).values(**values))
        if not done.rowcount:
            connection.execute(insert(TABLE).values(worker_id=worker_id, started_at=values["seen_at"],
                                                    **values))


def fresh_workers(connection: Connection, moment: datetime) -> list[str]:
    """The ids of the workers that reported within TURN_STALE (``turns``: who answers account mail)."""
    return list(connection.scalars(select(TABLE.c.worker_id).where(TABLE.c.seen_at >= moment - TURN_STALE)))


def withdraw(connection: Connection, worker_id: str) -> None:
    """Remove this worker's row (it stopped)."""
    with connection.begin():
        connection.execute(delete(TABLE).where(TABLE.c.worker_id == worker_id))


@dataclass(frozen=True)
class Lane:
    """One kind of mail: waiting, due now, and being sent."""

    name: str
    queued: int
    due: int
    in_flight: int


@dataclass(frozen=True)
class WorkerReport:
    """One live worker as it last reported."""

    worker_id: str
    seen_at: datetime
    connections: int
    reserved: int
    in_flight: int
    sent: int
    rate: float
    breaker: str
    unreachable: int
    throttled: int


@dataclass(frozen=True)
class Engine:
    """Per-lane queue depth, messages in flight, the current rate, and each live worker."""

    lanes: list[Lane]
    rate: float
    workers: list[WorkerReport]

    @property
    def breaker(self) -> str:
        """``closed`` when every worker reaches the server, else the worst state seen."""
        states = {w.breaker for w in self.workers}
        return next((s for s in ("open", "half-open") if s in states), "closed")


def lanes(connection: Connection, moment: datetime) -> list[Lane]:
    """Queued, due and sending rows per kind of mail: summed from the tally, less the few queued
    rows not due yet (counted), so a full queue is never walked."""
    groups = tally.groups(connection)
    queued = tally.by_kind(groups, OutboxStatus.QUEUED.value)
    sending = tally.by_kind(groups, OutboxStatus.SENDING.value)
    later = tally.not_due(connection, moment)
    return [Lane(name, queued[name], max(0, queued[name] - later[name]), sending[name]) for name in LANES]


def recent_rate(connection: Connection, moment: datetime) -> float:
    """Messages sent per second over the last minute."""
    count = connection.scalar(select(func.count()).select_from(OUTBOX)
                              .where(OUTBOX.c.sent_at >= moment - RATE_WINDOW))
    return int(count or 0) / RATE_WINDOW.total_seconds()


def live_workers(connection: Connection, moment: datetime) -> list[WorkerReport]:
    """Workers that reported within the last minute."""
    rows = connection.execute(select(TABLE).where(TABLE.c.seen_at >= moment - STALE)
                              .order_by(TABLE.c.worker_id))
    return [WorkerReport(r.worker_id, r.seen_at, r.connections, r.reserved, r.in_flight, r.sent,
                         r.rate, r.breaker, r.unreachable, r.throttled) for r in rows]


def engine_status(connection: Connection, moment: datetime) -> Engine:
    """Everything operators see about the delivery engine, at one moment."""
    return Engine(lanes(connection, moment), recent_rate(connection, moment),
                  live_workers(connection, moment))
