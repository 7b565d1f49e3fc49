"""A worker's heartbeat, beside its connections: what keeps a run alive and tidy until it ends.

At every beat the claims held are renewed, the worker's state is published in ``mail_workers``
(not in a drain), stored provider webhooks are applied, old bodies are purged when due (not in a
drain), the outbox is vacuumed when its dead rows pass MAIL_VACUUM_DEAD_ROWS (PostgreSQL, a drain
too), and what was handled since the last beat is reported.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from flask_mailroom.deliverability import inbound
from flask_mailroom.engine import heartbeats, retention
from flask_mailroom.engine.leases import Holdings
from flask_mailroom.engine.runtime import Runtime, handled
from flask_mailroom.store import db

log = logging.getLogger(__name__)

# The longest pause between heartbeats (claims renewed, state published), whatever the TTL.
HEARTBEAT_SECONDS = 5.0
# Told how many messages were handled since the last report, and the counts by outcome.
Report = Callable[[int, Counter[str]], Any]


class Heartbeat:
    """Publishes the worker's state in ``mail_workers`` (a failure is logged, never fatal)."""

    def __init__(self, runtime: Runtime, snapshot: Callable[[], dict[str, Any]],
                 saw: Callable[[list[str]], None] | None = None) -> None:
        """``snapshot`` says what the worker reports (without its rate); ``saw`` is told the ids
        of the live workers after each publication."""
        self.runtime = runtime
        self.snapshot = snapshot
        self.saw = saw
        self.last_sent = 0
        self.last_at: float | None = None

    def publish(self) -> None:
        """Write the snapshot, with the sending rate since the previous heartbeat."""
        values = self.snapshot()
        moment = self.runtime.seconds()
        elapsed = moment - self.last_at if self.last_at is not None else 0.0
        values["rate"] = (values["sent"] - self.last_sent) / elapsed if elapsed > 0 else 0.0
        self.last_sent, self.last_at = values["sent"], moment
        try:
            with db.engine.connect() as connection:
                heartbeats.publish(connection, self.runtime.worker_id, values)
                if self.saw is not None:
                    self.saw(heartbeats.fresh_workers(connection, values["seen_at"]))
                    connection.rollback()
        except SQLAlchemyError as error:
            log.warning("could not publish the worker's state: %s", type(error).__name__)

    def withdraw(self) -> None:
        """The worker stops: remove its row."""
        try:
            with db.engine.connect() as connection:
                heartbeats.withdraw(connection, self.runtime.worker_id)
        except SQLAlchemyError as error:
            log.warning("could not remove the worker's state: %s", type(error).__name__)


class Housekeeping:
    """The heartbeat of one run (``once``: a drain, which publishes and purges nothing)."""

    def __init__(self, runtime: Runtime, holdings: Holdings, heartbeat: Heartbeat, once: bool,
                 report: Report | None = None) -> None:
        """Beat at a quarter of the claims' lifetime, at most every HEARTBEAT_SECONDS."""
        self.runtime = runtime
        self.holdings = holdings
        self.heartbeat = heartbeat
        self.once = once
        self.report = report
        self.interval = min(runtime.lease_policy().heartbeat_seconds(), HEARTBEAT_SECONDS)

    def keep_alive(self, threads: list[threading.Thread]) -> None:
        """Renew the claims held, tidy and report at every beat, until the connections are done (or stop)."""
        reported = self.runtime.counts()
        self.tidy()
        while any(thread.is_alive() for thread in threads):
            if self.once:
                self._join_any(threads, self.interval)
            elif self.runtime.stop.wait(self.interval):
                log.info("stopping: finishing the messages being sent; the rest of the %d claimed "
                         "go back to the queue", len(self.holdings))
                return
            self.holdings.renew()
            if not self.once:
                self.tidy()
            else:
                retention.vacuum_if_due(self.runtime.app)
            if self.report is not None:
                reported = self._report(self.report, reported)

    def tidy(self) -> None:
        """What a heartbeat does besides renewing claims: publish the state (not in a drain), apply
        stored provider webhooks, purge old bodies when due (not in a drain), vacuum the outbox when
        its dead rows call for it (a drain too: that is when they pile up)."""
        if not self.once:
            self.heartbeat.publish()
        try:
            inbound.process_pending()
        except SQLAlchemyError as error:
            log.warning("could not process webhook events: %s", type(error).__name__)
        if not self.once:
            retention.purge_if_due(self.runtime.app)
        retention.vacuum_if_due(self.runtime.app)

    def withdraw(self) -> None:
        """The run is over: let a vacuum under way finish, remove the worker's state (a drain never
        published any)."""
        retention.vacuum_finished(self.runtime.app)
        if not self.once:
            self.heartbeat.withdraw()

    @staticmethod
    def _join_any(threads: list[threading.Thread], seconds: float) -> None:
        """Wait up to ``seconds`` for the connections to finish."""
        for thread in threads:
            thread.join(seconds)
            if thread.is_alive():
                return

    def _report(self, report: Report, since: Counter[str]) -> Counter[str]:
        """Tell ``report`` what was handled since the last report, if anything; the new mark."""
        now = self.runtime.counts()
        new = now - since
        if handled(new):
            report(handled(new), new)
        return now
