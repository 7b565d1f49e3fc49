"""Claims for a worker's connections: a few rows at a time, screened as they are taken, then held.

Each claim runs in one transaction with the screening of its rows (expired links, suppressed
addresses); now and then (and at the first claim of every run) it first puts back the rows whose
claim expired, their worker having died. The rows taken are held (``leases``) until their outcome
is written or they are no longer ours. Deferred copies whose builder has a screen ("is the reader
still subscribed?") are screened once per claim too, by one call for the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask_mailroom.compose import deferred
from flask_mailroom.deliverability import suppression as deliverability
from flask_mailroom.engine import claims
from flask_mailroom.engine.leases import Holdings
from flask_mailroom.engine.runtime import Runtime
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

    def claim(self, account_only: bool, limit: int) -> tuple[list[Claimed], deliverability.BatchScreen]:
        """Claim a few rows for one connection and hold them (recovering expired claims now and
        then), screened in the same transaction (expired links, suppressed addresses), then the
        copies whose builder screens them, in one call per builder."""
        runtime = self.runtime
        moment = runtime.now()
        recovering = runtime.seconds() - self.last_recovery >= RECOVER_SECONDS
        if recovering:
            self.last_recovery = runtime.seconds()
        with db.engine.connect() as connection, connection.begin():
            rows = claims.claim_in(connection, runtime.worker_id, moment, moment + runtime.claim_ttl(),
                                   limit, account_only=account_only, recovering=recovering)
            screen = deliverability.screen_batch(connection, rows, moment)
        self.holdings.add(rows, moment)
        return deferred.screen_copies(rows), screen

    def usable(self, row: Claimed) -> bool:
        """Whether a send of ``row`` may start: the claim is still ours and fresh enough."""
        return self.holdings.usable(row.id)

    def forget(self, rows: Sequence[Claimed]) -> None:
        """Stop renewing the claims on ``rows``: they expire and another connection takes them over."""
        self.holdings.forget(row.id for row in rows)
