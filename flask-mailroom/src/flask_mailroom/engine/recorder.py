"""Write delivery outcomes on a thread of their own, so the next message goes out while the last is recorded.

The sender hands each outcome over the moment the server has answered; this thread writes whatever
has arrived since its previous commit in one transaction. A crash can therefore repeat only
messages the server had accepted but whose outcome was not yet committed: the message in hand and
those accepted in the last few milliseconds (at most ``group`` plus what one commit takes while
the database keeps up; ``max_pending`` when it does not).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Update, bindparam, update
from sqlalchemy.sql.elements import ColumnElement

from flask_mailroom.models.outbox import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

SENDING = OutboxStatus.SENDING.value
TABLE = OutboxMessage.__table__
# The sorted names of an outcome's values and SQL expressions, and the column it stamps.
Shape = tuple[tuple[str, ...], tuple[str, ...], str | None]


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed row: values to set, SQL expressions, and a column to stamp
    with the time the outcome is written (``sent_at``, ``failed_at``)."""

    row_id: int
    values: Mapping[str, Any]
    expressions: Mapping[str, ColumnElement[Any]] = field(default_factory=dict)
    stamp: str | None = None

    def shape(self) -> Shape:
        """Outcomes of the same shape are written by the same statement."""
        return tuple(sorted(self.values)), tuple(sorted(self.expressions)), self.stamp

    def key(self) -> tuple[Shape, str]:
        """Outcomes with the same key are written by one execution of that statement."""
        return self.shape(), repr(sorted(self.values.items()))


def finish_statement(worker_id: str, outcome: Outcome) -> Update:
    """UPDATE rows by id, only while this worker still holds their claim; releases the claim."""
    values: dict[str, Any] = {name: bindparam(f"v_{name}", type_=TABLE.c[name].type)
                              for name in outcome.values}
    values.update(outcome.expressions)
    if outcome.stamp:
        values[outcome.stamp] = bindparam("v_stamp", type_=TABLE.c[outcome.stamp].type)
    return (update(TABLE)
            .where(TABLE.c.id.in_(bindparam("v_ids", expanding=True)),
                   TABLE.c.claimed_by == worker_id, TABLE.c.status == SENDING)
            .values(claimed_by=None, claimed_until=None, **values))


@dataclass
class Statements:
    """One finishing statement per outcome shape, built once per worker."""

    worker_id: str
    built: dict[Shape, Update] = field(default_factory=dict)

    def for_outcome(self, outcome: Outcome) -> Update:
        """The statement writing outcomes shaped like this one."""
        shape = outcome.shape()
        if shape not in self.built:
            self.built[shape] = finish_statement(self.worker_id, outcome)
        return self.built[shape]


def write_outcomes(connection: Connection, statements: Statements, outcomes: Sequence[Outcome],
                   moment: datetime) -> None:
    """Write a group of outcomes in one transaction: one execution per distinct outcome."""
    alike: dict[tuple[Shape, str], list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        alike[outcome.key()].append(outcome)
    with connection.begin():
        for group in alike.values():
            first = group[0]
            params = {f"v_{name}": value for name, value in first.values.items()}
            params["v_ids"] = [o.row_id for o in group]
            if first.stamp:
                params["v_stamp"] = moment
            connection.execute(statements.for_outcome(first), params)


def prepare(connection: Connection) -> None:
    """On PostgreSQL, status updates need not wait for the WAL flush (a server crash only repeats mail)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET synchronous_commit TO off")
        connection.commit()


def unprepare(connection: Connection) -> None:
    """Give the pooled connection back as we found it."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("RESET synchronous_commit")
        connection.commit()


class OutcomeWriter:
    """A thread that writes outcomes in groups; ``close`` waits until every outcome is written.

    Handing an outcome over is a lock-free append. The thread writes what has arrived when
    ``group`` outcomes are waiting, or ``interval`` seconds after its last write, whichever comes
    first: at full speed it commits every few messages without waking for each one, and a slow
    server's outcomes are still written within milliseconds. When the database cannot be reached
    the group is kept and written again (on a new connection) once it can: nothing is dropped
    while the process lives. ``on_written`` hears which rows' outcomes are committed.
    """

    def __init__(self, engine: Engine, worker_id: str, clock: Callable[[], datetime], *,
                 group: int = 8, interval: float = 0.005, max_pending: int = 256,
                 on_written: Callable[[list[int]], None] | None = None) -> None:
        """Start the thread, which writes on a connection of its own."""
        self.engine = engine
        self.clock = clock
        self.statements = Statements(worker_id)
        self.group = group
        self.interval = interval
        self.max_pending = max_pending
        self.on_written = on_written
        self.pending: deque[Outcome] = deque()
        self.wake = threading.Event()
        self.closing = False
        self.give_up_at = float("inf")
        self.failures = 0
        self.thread = threading.Thread(target=self._run, name="mailroom-outcomes", daemon=True)
        self.thread.start()

    def put(self, outcome: Outcome) -> None:
        """Hand an outcome over; waits while ``max_pending`` are still unwritten."""
        while len(self.pending) >= self.max_pending and self.thread.is_alive():
            self.wake.set()
            threading.Event().wait(self.interval)
        self.pending.append(outcome)
        if len(self.pending) >= self.group and not self.wake.is_set():
            self.wake.set()

    def close(self, timeout: float = 60.0) -> None:
        """Write what is left and stop the thread; after ``timeout`` s without a database, give up."""
        self.give_up_at = time.monotonic() + timeout
        self.closing = True
        self.wake.set()
        self.thread.join()
        if self.pending:
            log.error("%d delivery outcomes could not be recorded; those messages may be sent again",
                      len(self.pending))

    def _take(self) -> list[Outcome]:
        """Wait for a group or the interval, then take everything handed over so far."""
        self.wake.wait(self.interval)
        self.wake.clear()
        group: list[Outcome] = []
        while self.pending:
            group.append(self.pending.popleft())
        return group

    def _done(self) -> bool:
        """Closed, with nothing left to write (or no more time to write it)."""
        return self.closing and (not self.pending or time.monotonic() >= self.give_up_at)

    def _run(self) -> None:
        """Write until closed, reconnecting with a growing pause whenever the database fails."""
        pause = 0.1
        while True:
            try:
                with self.engine.connect() as connection:
                    self._write_all(connection)
                return
            except Exception as error:
                self.failures += 1
                log.warning("could not record delivery outcomes (%s); retrying in %.1f s",
                            type(error).__name__, pause)
            if self._done():
                return
            threading.Event().wait(pause)
            pause = min(pause * 2, 5.0)

    def _write_all(self, connection: Connection) -> None:
        """The write loop on one connection, which is discarded rather than pooled if anything fails."""
        try:
            prepare(connection)
            while not self._done():
                group = self._take()
                if group:
                    self._write(connection, group)
            unprepare(connection)
        except Exception:
            connection.invalidate()
            raise

    def _write(self, connection: Connection, group: list[Outcome]) -> None:
        """Write one group; on failure put it back in front, in order, for the next try."""
        try:
            write_outcomes(connection, self.statements, group, self.clock())
        except Exception:
            self.pending.extendleft(reversed(group))
            raise
        if self.on_written is not None:
            self.on_written([outcome.row_id for outcome in group])
