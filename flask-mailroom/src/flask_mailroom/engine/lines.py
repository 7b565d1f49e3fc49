"""Each SMTP connection's own database connection for claims on PostgreSQL (its "claim line").

A claim checked out of the pool and wrapped in a transaction costs a checkout, BEGIN, ``SET LOCAL
synchronous_commit``, the statement and COMMIT: five steps of which only one does the work. A line
is held by its SMTP connection while that one works (closed with it after ``IDLE_CLOSE_SECONDS``
idle), in autocommit with asynchronous commits set once for the session, so a claim is the one
statement, and the claim that finds nothing (another worker took the account email both were woken
for) is a single round trip. SQLite keeps a transaction per claim under its write lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine

from flask_mailroom.store import PING_AFTER_IDLE


class ClaimLines:
    """The claim lines of one worker's connections, one per thread that claims."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        """No line is open yet; ``clock`` tells seconds (how long a line sat unused)."""
        self.engine = engine
        self.clock = clock
        self.local = threading.local()

    def get(self) -> Connection:
        """This thread's line, opened if it has none, pinged first if it sat idle (a dead one is
        replaced: the database restarted meanwhile)."""
        line: Connection | None = getattr(self.local, "line", None)
        if line is not None and self._idle_too_long() and not self._alive(line):
            self.hang_up()
            line = None
        if line is None:
            line = self._open()
        self.local.used = self.clock()
        return line

    def hang_up(self) -> None:
        """Close this thread's line, if it has one. Its database connection is discarded, not
        pooled: its commits are asynchronous, which only claims may be."""
        line: Connection | None = getattr(self.local, "line", None)
        self.local.line = None
        if line is not None:
            line.invalidate()
            line.close()

    def _open(self) -> Connection:
        """A new line: autocommit, with commits that return before their WAL reaches the disk
        (a claim lost to a crash leaves its rows queued: a possible repeat, never a loss)."""
        line = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.local.line = line
        try:
            line.exec_driver_sql("SET synchronous_commit TO off")
        except BaseException:
            self.hang_up()
            raise
        return line

    def _idle_too_long(self) -> bool:
        """Whether this thread's line sat unused long enough to be pinged before its next claim."""
        return self.clock() - float(self.local.used) >= PING_AFTER_IDLE

    def _alive(self, line: Connection) -> bool:
        """Whether the line answers a ping."""
        connection = line.connection.dbapi_connection
        try:
            return connection is not None and bool(self.engine.dialect.do_ping(connection))
        except Exception:
            return False


def lines_for(engine: Engine) -> ClaimLines | None:
    """Claim lines on PostgreSQL; None where claims keep a transaction each (SQLite)."""
    return ClaimLines(engine) if engine.dialect.name == "postgresql" else None
