"""Write delivery outcomes on a thread of their own, so the next message goes out while the last is recorded.

The sender hands each outcome over the moment the server has answered; this thread writes whatever
has arrived since its previous commit in one transaction. A crash can therefore repeat only
messages the server had accepted but whose outcome was not yet committed: the message in hand and
those accepted in the last ``interval`` (20 ms; at most ``group`` plus what one commit takes while
the database keeps up; ``max_pending`` when it does not).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, Engine, Text, Update, bindparam, cast, func, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

from flask_mailroom.engine import claims, tally
from flask_mailroom.models.outbox import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

SENDING = OutboxStatus.SENDING.value
TABLE = OutboxMessage.__table__
# How often the writer folds the status figures' appended rows (``tally.fold``).
FOLD_SECONDS = 1.0
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


def _assignments(worker_id: str, outcome: Outcome, cells: Mapping[str, Any]) -> Update:
    """UPDATE the rows this worker still holds: ``cells`` per value, the outcome's expressions,
    the stamp; releases the claim. The caller adds which rows."""
    values: dict[str, Any] = dict(cells)
    values.update(outcome.expressions)
    if outcome.stamp:
        values[outcome.stamp] = bindparam("v_stamp", type_=TABLE.c[outcome.stamp].type)
    return (update(TABLE).where(TABLE.c.claimed_by == worker_id, claims.IS_SENDING)
            .values(claimed_by=None, claimed_until=None, **values))


def finish_statement(worker_id: str, outcome: Outcome) -> Update:
    """One row's outcome, by id, with its values as parameters (run as an executemany)."""
    cells = {name: bindparam(f"v_{name}", type_=TABLE.c[name].type) for name in outcome.values}
    return _assignments(worker_id, outcome, cells).where(TABLE.c.id == bindparam("v_id"))


def _is_json(name: str) -> bool:
    """Whether a column holds JSON: an array of JSON values would nest, so these travel as text."""
    return isinstance(TABLE.c[name].type, JSON)


def batch_statement(worker_id: str, outcome: Outcome) -> Update:
    """PostgreSQL: outcomes shaped like this one, any number in one statement, ``UPDATE ... FROM
    unnest(:v_id, :v_status, ...) AS v(...)``: one array parameter per column, typed as the column,
    so the statement is the same for every group and is compiled once."""
    names = sorted(outcome.values)
    arrays = [bindparam("v_id", type_=ARRAY(TABLE.c.id.type))]
    arrays += [bindparam(f"v_{name}", type_=ARRAY(Text() if _is_json(name) else TABLE.c[name].type))
               for name in names]
    lines = func.unnest(*arrays).table_valued("v_id", *names).render_derived(name="v")
    cells = {name: cast(lines.c[name], TABLE.c[name].type) if _is_json(name) else lines.c[name]
             for name in names}
    return _assignments(worker_id, outcome, cells).where(TABLE.c.id == lines.c.v_id)


def batch_parameters(group: Sequence[Outcome]) -> dict[str, list[Any]]:
    """The array parameters of ``batch_statement``: the group's ids, and each value's column; in
    the order of the ids, the order in which a claim's renewal locks the same rows (``claims.renew``),
    so the two do not deadlock (a group whose write fails anyway is written again)."""
    group = sorted(group, key=lambda outcome: outcome.row_id)
    columns: dict[str, list[Any]] = {"v_id": [o.row_id for o in group]}
    for name in sorted(group[0].values):
        cells = [o.values[name] for o in group]
        columns[f"v_{name}"] = [json.dumps(cell) for cell in cells] if _is_json(name) else cells
    return columns


@dataclass
class Statements:
    """The finishing statements of one worker, built once per outcome shape and kept, so that
    SQLAlchemy compiles each once: the per-row form (executemany) and the PostgreSQL batch."""

    worker_id: str
    built: dict[Shape, Update] = field(default_factory=dict)
    batches: dict[Shape, Update] = field(default_factory=dict)

    def for_outcome(self, outcome: Outcome) -> Update:
        """The statement writing outcomes shaped like this one."""
        shape = outcome.shape()
        if shape not in self.built:
            self.built[shape] = finish_statement(self.worker_id, outcome)
        return self.built[shape]

    def for_batch(self, outcome: Outcome) -> Update:
        """The statement writing any number of outcomes shaped like this one (PostgreSQL)."""
        shape = outcome.shape()
        if shape not in self.batches:
            self.batches[shape] = batch_statement(self.worker_id, outcome)
        return self.batches[shape]


def _write_group(connection: Connection, statements: Statements, group: Sequence[Outcome],
                 moment: datetime) -> None:
    """Write outcomes of one shape: one statement on PostgreSQL, an executemany elsewhere."""
    stamp = {"v_stamp": moment} if group[0].stamp else {}
    if connection.dialect.name == "postgresql":
        connection.execute(statements.for_batch(group[0]), {**batch_parameters(group), **stamp})
        return
    rows = [{"v_id": o.row_id, **{f"v_{name}": value for name, value in o.values.items()}, **stamp}
            for o in group]
    connection.execute(statements.for_outcome(group[0]), rows)


def write_outcomes(connection: Connection, statements: Statements, outcomes: Sequence[Outcome],
                   moment: datetime) -> None:
    """Write a group of outcomes in one transaction: one statement per outcome shape (sent,
    retried, given back...), however many rows and whatever their values."""
    alike: dict[Shape, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        alike[outcome.shape()].append(outcome)
    with connection.begin():
        for group in alike.values():
            _write_group(connection, statements, group, moment)


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
    first: at full speed it commits a few dozen outcomes at a time (each commit costs the worker
    about as much CPU as sending a copy), and a slow server's outcomes are still written within
    tens of milliseconds. When the database cannot be reached the group is kept and written again
    (on a new connection) once it can: nothing is dropped while the process lives. ``on_written``
    hears which rows' outcomes are committed.
    """

    def __init__(self, engine: Engine, worker_id: str, clock: Callable[[], datetime], *,
                 group: int = 32, interval: float = 0.02, max_pending: int = 256,
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
        self.folded_at = float("-inf")
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
        if time.monotonic() - self.folded_at >= FOLD_SECONDS:
            self.folded_at = time.monotonic()
            tally.fold(connection)
