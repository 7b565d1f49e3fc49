"""Claims for a worker's connections: a few rows at a time, screened as they are taken, then held.

Each claim screens its rows as it takes them (expired links, suppressed addresses); now and then
(and at the first claim of every run) it first puts back the rows whose claim expired, their worker
having died. On PostgreSQL each of those is one statement in autocommit (the claim relaxes its
own commit and tells whether due rows were left behind); on SQLite the three run in one
transaction under the write lock. The rows taken are held (``leases``) until their outcome is
written or they are no longer ours. Deferred copies whose builder has a screen ("is the reader
still subscribed?") are screened once per claim too, by one call for the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from flask_mailroom.compose import deferred
from flask_mailroom.deliverability import suppression as deliverability
from flask_mailroom.engine import claims
from flask_mailroom.engine.leases import Holdings
from flask_mailroom.engine.runtime import Runtime
from flask_mailroom.engine.shared import Taken
from flask_mailroom.models.outbox import Claimed
from flask_mailroom.store import db

# How often expired claims are looked for while claiming (and at the first claim of every run).
RECOVER_SECONDS = 1.0


def claim_now(runtime: Runtime, limit: int) -> list[Claimed]:
    """Claim up to ``limit`` due rows now, on a connection of its own, outside any run."""
    moment = runtime.now()
    with db.engine.connect() as connection:
        return claims.claim(connection, runtime.worker_id, moment, moment + runtime.claim_ttl(), limit)


class ClaimDesk:
    """Claims rows for the connections of one run and holds them."""

    def __init__(self, runtime: Runtime, holdings: Holdings) -> None:
        """The first claim recovers expired claims."""
        self.runtime = runtime
        self.holdings = holdings
        self.last_recovery = float("-inf")

    def claim(self, account_only: bool, limit: int) -> Taken:
        """Claim a few rows for one connection and hold them (recovering expired claims now and
        then), screened as they are taken (expired links, suppressed addresses), then the copies
        whose builder screens them, in one call per builder."""
        moment = self.runtime.now()
        recovering = self.runtime.seconds() - self.last_recovery >= RECOVER_SECONDS
        if recovering:
            self.last_recovery = self.runtime.seconds()
        taken = self._take(account_only, limit, moment, recovering)
        self.holdings.add(taken.rows, moment)
        return taken._replace(rows=deferred.screen_copies(taken.rows))

    def _take(self, account_only: bool, limit: int, moment: datetime, recovering: bool) -> Taken:
        """The claim and its screening (expired links, suppressed addresses)."""
        until = moment + self.runtime.claim_ttl()
        if db.engine.dialect.name == "postgresql":
            return self._take_statements(account_only, limit, moment, until, recovering)
        with db.engine.connect() as connection, connection.begin():  # SQLite: under its write lock
            rows = claims.claim_in(connection, self.runtime.worker_id, moment, until, limit,
                                   account_only, recovering)
            return Taken(rows, deliverability.screen_batch(connection, rows, moment), len(rows) >= limit)

    def _take_statements(self, account_only: bool, limit: int, moment: datetime, until: datetime,
                         recovering: bool) -> Taken:
        """PostgreSQL: the recovery, the claim and the screening each one statement in autocommit
        (no BEGIN and COMMIT around them: a claim that finds nothing is one round trip)."""
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            if recovering:
                claims.recover(connection, moment)
            rows, more, looked_up = claims.take_telling(connection, self.runtime.worker_id, moment,
                                                        until, limit, account_only)
            return Taken(rows, deliverability.screen_batch(connection, rows, moment, looked_up), more)

    def usable(self, row: Claimed) -> bool:
        """Whether a send of ``row`` may start: the claim is still ours and fresh enough."""
        return self.holdings.usable(row.id)

    def forget(self, rows: Sequence[Claimed]) -> None:
        """Stop renewing the claims on ``rows``: they expire and another connection takes them over."""
        self.holdings.forget(row.id for row in rows)
