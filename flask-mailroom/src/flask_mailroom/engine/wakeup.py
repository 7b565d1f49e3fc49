"""Waking idle workers the moment an outbox row is committed (PostgreSQL ``LISTEN``/``NOTIFY``).

A trigger on the outbox (migrations m0002, m0004) notifies the ``mailroom_outbox`` channel once
per inserting statement, when its transaction commits, naming the kinds of mail inserted. Each
worker process listens on a database connection of its own and wakes idle connections that can
take that mail (account mail alone: at once only when it is this worker's turn, ``turns``, else a
moment later); if that connection fails it reconnects with a growing pause, and polling
(``mail worker --poll``) keeps working meanwhile. SQLite has no notifications: workers there poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.engine import URL

from flask_mailroom.engine.turns import CATCH_UP_SECONDS, Turns
from flask_mailroom.models.outbox import TRANSACTIONAL

log = logging.getLogger(__name__)

CHANNEL = "mailroom_outbox"
# How long one wait for notifications lasts before the stop flag is looked at again.
WAIT_SECONDS = 1.0


def conninfo(url: URL) -> str:
    """The SQLAlchemy URL as a libpq connection string."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """A thread that calls ``wake`` for every notification on CHANNEL until ``stop`` is set (for
    account mail that is another worker's turn, once for several and a moment later)."""

    def __init__(self, url: URL, wake: Callable[[str | None], None], stop: threading.Event,
                 heard: Callable[[bool], None] | None = None, turns: Turns | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Not started yet; ``heard`` is told when listening starts (True) and stops (False)."""
        self.dsn = conninfo(url)
        self.wake = wake
        self.stop = stop
        self.heard = heard or (lambda listening: None)
        self.turns = turns
        self.clock = clock
        # When this worker looks for account mail that was another's turn (None: nothing owed).
        self.owed: float | None = None
        self.thread = threading.Thread(target=self.run, name="mailroom-listen", daemon=True)

    def start(self) -> Listener:
        """Start listening."""
        self.thread.start()
        return self

    def run(self) -> None:
        """Listen; after a failure, wait (longer each time, up to 10 s) and listen again."""
        pause = 0.5
        while not self.stop.is_set():
            try:
                self.listen()
            except Exception as error:  # the database went away: polling carries on meanwhile
                log.warning("listening for new mail failed (%s); again in %.1f s",
                            type(error).__name__, pause)
                self.stop.wait(pause)
                pause = min(pause * 2, 10.0)

    def listen(self) -> None:
        """One connection's life: LISTEN, wake once (rows of any kind may have come meanwhile), then
        per notification, passing on the kinds of mail it names (m0004)."""
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            self.heard(True)
            try:
                self.wake(None)
                while not self.stop.is_set():
                    for notification in connection.notifies(timeout=self._timeout(), stop_after=1):
                        self.pass_on(notification.payload, notification.pid)
                    self.catch_up()
            finally:
                self.heard(False)

    def pass_on(self, kinds: str | None, pid: int) -> None:
        """Wake for a notification from backend ``pid``, or owe a look when it is another's turn."""
        if self.turns is None or self.turns.answers(kinds, pid):
            self.wake(kinds)
        elif self.owed is None:
            self.owed = self.clock() + CATCH_UP_SECONDS

    def catch_up(self) -> None:
        """Look for account mail that was another worker's turn, once its moment has come."""
        if self.owed is not None and self.clock() >= self.owed:
            self.owed = None
            self.wake(TRANSACTIONAL)

    def _timeout(self) -> float:
        """How long the next wait for notifications may last: until a look owed is due."""
        if self.owed is None:
            return WAIT_SECONDS
        return min(WAIT_SECONDS, max(0.0, self.owed - self.clock()))


def listener_for(url: URL, wake: Callable[[str | None], None], stop: threading.Event,
                 heard: Callable[[bool], None] | None = None, turns: Turns | None = None) -> Listener | None:
    """A started listener on PostgreSQL; None on databases without notifications."""
    if url.get_backend_name() != "postgresql":
        return None
    return Listener(url, wake, stop, heard, turns).start()
