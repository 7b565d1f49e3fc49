"""The claims one worker process holds, renewed by a heartbeat, and whether each may still be used.

A claim covers only what a connection has taken (a few rows), so a dead worker holds little, and
a live one renews all of its claims in one statement every quarter of their lifetime. Rows whose
renewal did not come back were finished meanwhile or taken over by another worker: they are
forgotten here. See ``domain.leases`` for the rules.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from flask_mailroom.engine import claims
from flask_mailroom.models.outbox import Claimed
from flask_mailroom.rules.leases import LeasePolicy

log = logging.getLogger(__name__)


class Holdings:
    """Row id -> when this worker's claim on it was last confirmed in the database."""

    def __init__(self, engine: Engine, worker_id: str, policy: LeasePolicy,
                 clock: Callable[[], datetime]) -> None:
        """Nothing held yet."""
        self.engine = engine
        self.worker_id = worker_id
        self.policy = policy
        self.clock = clock
        self.confirmed: dict[int, datetime] = {}
        self.lock = threading.Lock()
        self.renewing = threading.Lock()

    def add(self, rows: Sequence[Claimed], moment: datetime) -> None:
        """Rows just claimed at ``moment``."""
        with self.lock:
            for row in rows:
                self.confirmed[row.id] = moment

    def forget(self, ids: Iterable[int]) -> None:
        """Rows whose outcome is written (or that are no longer ours)."""
        with self.lock:
            for row_id in ids:
                self.confirmed.pop(row_id, None)

    def ids(self) -> list[int]:
        """Every row held now."""
        with self.lock:
            return list(self.confirmed)

    def __len__(self) -> int:
        """How many rows are held (in flight or waiting on a connection)."""
        with self.lock:
            return len(self.confirmed)

    def usable(self, row_id: int) -> bool:
        """Whether a send of this row may start: still ours, renewed first when half its lease has gone."""
        with self.lock:
            confirmed = self.confirmed.get(row_id)
        if confirmed is not None and self.policy.renew_due(confirmed, self.clock()):
            self.renew()
            with self.lock:
                confirmed = self.confirmed.get(row_id)
        if confirmed is None:
            return False
        if self.policy.may_start(confirmed, self.clock()):
            return True
        self.forget([row_id])  # cut off from the database too long: another worker takes it over
        return False

    def renew(self) -> None:
        """Extend every claim held (one statement); forget the rows that are no longer ours."""
        with self.renewing:
            ids = self.ids()
            moment = self.clock()
            if not ids:
                return
            try:
                with self.engine.connect() as connection:
                    held = claims.renew(connection, self.worker_id, ids, self.policy.until(moment))
            except SQLAlchemyError as error:
                log.warning("could not renew %d claims: %s", len(ids), type(error).__name__)
                return
            with self.lock:
                for row_id in ids:
                    if row_id not in self.confirmed:
                        continue
                    if row_id in held:
                        self.confirmed[row_id] = max(self.confirmed[row_id], moment)
                    else:
                        del self.confirmed[row_id]
