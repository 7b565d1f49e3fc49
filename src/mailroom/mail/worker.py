"""The delivery worker: claim due outbox rows, hand them to the transport, record the outcome.

One drain keeps one transport (one SMTP connection) across all its batches and closes it when
nothing is left. Claims are UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) on
PostgreSQL, so workers on several machines never take the same row; on SQLite the claim runs
under the database's single write lock. Outcomes are written by an OutcomeWriter thread.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from flask_mail import email_dispatched
from sqlalchemy import ColumnElement, and_, select, text, update

from mailroom.domain.backoff import RetryPolicy
from mailroom.extensions import db
from mailroom.mail.recorder import Outcome, OutcomeWriter
from mailroom.mail.transport import (
    ConnectionFailure,
    DeliveryError,
    PermanentFailure,
    Refused,
    Transport,
    transport_for,
)
from mailroom.models.outbox import OutboxMessage, OutboxStatus
from mailroom.state import state

log = logging.getLogger(__name__)

QUEUED = OutboxStatus.QUEUED.value
SENDING = OutboxStatus.SENDING.value
SENT = OutboxStatus.SENT.value
FAILED = OutboxStatus.FAILED.value
TABLE = OutboxMessage.__table__
MAX_ERROR = 2000
SENT_VALUES = {"status": SENT, "last_error": None}


def new_worker_id() -> str:
    """A name unique to this worker: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def policy_for(app: Flask) -> RetryPolicy:
    """The retry policy from configuration."""
    config = app.config
    return RetryPolicy(base_seconds=config["OUTBOX_BACKOFF_BASE"],
                       max_seconds=config["OUTBOX_BACKOFF_MAX"],
                       max_attempts=config["OUTBOX_MAX_ATTEMPTS"])


def due_condition(moment: datetime) -> ColumnElement[bool]:
    """Rows ready to deliver: queued and due (expired claims are put back in the queue first)."""
    return and_(TABLE.c.status == QUEUED, TABLE.c.next_attempt_at <= moment)


def relaxed_commit() -> None:
    """On PostgreSQL, let this transaction's commit return before its WAL is flushed to disk.

    A claim lost to a database crash leaves its rows queued, as if never claimed; the cost is a
    possible repeat after such a crash, never a loss.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL synchronous_commit TO off"))


@dataclass(frozen=True)
class Claimed:
    """What the worker needs of one claimed row (the row itself stays in the database)."""

    id: int
    message_id: str
    priority: int
    sender: str
    recipients: list[str]
    raw: bytes
    attempts: int
    max_attempts: int


CLAIMED_COLUMNS = [TABLE.c[name] for name in Claimed.__dataclass_fields__]


@dataclass
class Drain:
    """What one drain holds: the open transport and the outcome writer."""

    transport: Transport
    writer: OutcomeWriter
    renew_at: datetime


@dataclass
class Worker:
    """One delivery worker bound to an application."""

    app: Flask
    worker_id: str = field(default_factory=new_worker_id)
    rng: random.Random = field(default_factory=random.SystemRandom)
    transport: Transport | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    stats: Counter[str] = field(default_factory=Counter)

    def now(self) -> datetime:
        """The application's clock."""
        return state(self.app).clock.now()

    def claim_ttl(self) -> timedelta:
        """How long a claim lasts before another worker may take the row over."""
        return timedelta(seconds=self.app.config["OUTBOX_CLAIM_TTL"])

    # --- claiming ------------------------------------------------------------------------------

    def recover(self, moment: datetime) -> int:
        """Put rows whose claim expired (their worker died or stalled) back in the queue; how many."""
        result = db.session.execute(
            update(TABLE).where(TABLE.c.status == SENDING, TABLE.c.claimed_until < moment)
            .values(status=QUEUED, claimed_by=None, claimed_until=None))
        return int(getattr(result, "rowcount", 0) or 0)

    def claim(self, limit: int) -> list[Claimed]:
        """Atomically take up to ``limit`` due rows, account mail first, counting the attempt.

        Both statements walk the ``(status, priority, next_attempt_at)`` index, so a claim reads
        only the rows it takes, however many sent rows the table keeps.
        """
        moment = self.now()
        relaxed_commit()
        self.recover(moment)
        due = (select(TABLE.c.id).where(due_condition(moment))
               .order_by(TABLE.c.priority, TABLE.c.next_attempt_at, TABLE.c.id)
               .limit(limit).with_for_update(skip_locked=True))
        rows = db.session.execute(
            update(TABLE).where(TABLE.c.id.in_(due.scalar_subquery()))
            .values(status=SENDING, claimed_by=self.worker_id,
                    claimed_until=moment + self.claim_ttl(), attempts=TABLE.c.attempts + 1)
            .returning(*CLAIMED_COLUMNS)
        ).all()
        db.session.commit()
        return sorted((Claimed(*row) for row in rows), key=lambda c: (c.priority, c.id))

    def _renew(self, drain: Drain, rows: Sequence[Claimed]) -> None:
        """Extend our claim on rows not yet attempted when half the claim's lifetime has gone."""
        moment = self.now()
        if moment < drain.renew_at:
            return
        db.session.execute(
            update(TABLE).where(TABLE.c.id.in_([r.id for r in rows]),
                                TABLE.c.claimed_by == self.worker_id, TABLE.c.status == SENDING)
            .values(claimed_until=moment + self.claim_ttl()))
        db.session.commit()
        drain.renew_at = moment + self.claim_ttl() / 2

    # --- outcomes ------------------------------------------------------------------------------

    def _sent(self, drain: Drain, row: Claimed, refused: Refused) -> None:
        """Record a delivery and signal it; recipients refused with 4xx keep the row queued for them."""
        self.stats["sent"] += 1
        if not refused:
            drain.writer.put(Outcome(row.id, SENT_VALUES, stamp="sent_at"))
        else:
            drain.writer.put(self._partly_sent(row, refused))
        self._signal(row)

    def _partly_sent(self, row: Claimed, refused: Refused) -> Outcome:
        """Sent, noting who refused; queued again for the recipients refused with 4xx (while attempts last)."""
        note = "; ".join(f"{a}: {c} {t}" for a, (c, t) in sorted(refused.items()))[:MAX_ERROR]
        later = [a for a in row.recipients if a in refused and not 500 <= refused[a][0] < 600]
        retry_at = policy_for(self.app).next_attempt(row.attempts, self.now(), self.rng) if later else None
        if retry_at is None:
            return Outcome(row.id, {"status": SENT, "last_error": note}, stamp="sent_at")
        return Outcome(row.id, {"status": QUEUED, "recipients": later, "next_attempt_at": retry_at,
                                "last_error": note})

    def _failed(self, drain: Drain, row: Claimed, error: DeliveryError) -> None:
        """Retry later with backoff and jitter, or give up: permanent errors and exhausted attempts fail."""
        text = str(error)[:MAX_ERROR]
        retry_at = None if error.permanent else policy_for(self.app).next_attempt(
            row.attempts, self.now(), self.rng)
        if retry_at is None or row.attempts >= row.max_attempts:
            log.warning("message %s failed: %s", row.message_id, text)
            self.stats["failed"] += 1
            drain.writer.put(Outcome(row.id, {"status": FAILED, "last_error": text}, stamp="failed_at"))
        else:
            self.stats["retried"] += 1
            drain.writer.put(Outcome(row.id, {"status": QUEUED, "next_attempt_at": retry_at,
                                              "last_error": text}))

    def _release(self, drain: Drain, rows: Sequence[Claimed]) -> None:
        """Give back rows claimed but not attempted, so a stopping worker leaves them due."""
        for row in rows:
            drain.writer.put(Outcome(row.id, {"status": QUEUED},
                                     {"attempts": TABLE.c.attempts - 1}))

    def _signal(self, row: Claimed) -> None:
        """Fire Flask-Mail's email_dispatched, so record_messages() sees what we delivered."""
        if not email_dispatched.receivers:
            return
        from mailroom.mail.parse import message_from_raw

        email_dispatched.send(self.app, message=message_from_raw(row.raw, row.recipients))

    # --- delivering ----------------------------------------------------------------------------

    def deliver_one(self, drain: Drain, row: Claimed) -> None:
        """Send one claimed row and record what happened; ConnectionFailure is left to the batch."""
        if row.attempts > row.max_attempts:
            self._failed(drain, row, PermanentFailure(
                f"gave up after {row.attempts - 1} attempts (workers stopped mid-delivery)"))
            return
        try:
            refused = drain.transport.send(row.sender, row.recipients, row.raw)
        except ConnectionFailure:
            raise
        except DeliveryError as error:
            self._failed(drain, row, error)
            return
        self._sent(drain, row, refused)

    def deliver_batch(self, drain: Drain, rows: Sequence[Claimed]) -> bool:
        """Deliver a batch in order; False when the drain should end (stopping, or no connection)."""
        for index, row in enumerate(rows):
            if self.stop.is_set():
                self._release(drain, rows[index:])
                return False
            self._renew(drain, rows[index:])
            try:
                self.deliver_one(drain, row)
            except ConnectionFailure as error:
                log.warning("cannot reach the mail server: %s", error)
                for waiting in rows[index:]:
                    self._failed(drain, waiting, error)
                return False
        return True

    def _open_drain(self) -> Drain:
        """A transport (the injected one, or one from configuration) and a started writer."""
        transport = self.transport or transport_for(self.app.config)
        writer = OutcomeWriter(db.engine, self.worker_id, self.now)
        return Drain(transport, writer, self.now() + self.claim_ttl() / 2)

    def _close_drain(self, drain: Drain) -> None:
        """Close the connection (unless injected), then wait for every outcome to be written."""
        try:
            if self.transport is None:
                drain.transport.close()
        finally:
            drain.writer.close()

    def drain(self) -> int:
        """Deliver everything due now over one connection, then return how many rows were handled."""
        handled = 0
        with self.app.app_context():
            drain = self._open_drain()
            try:
                while not self.stop.is_set():
                    rows = self.claim(self.app.config["OUTBOX_BATCH_SIZE"])
                    drain.renew_at = self.now() + self.claim_ttl() / 2
                    handled += len(rows)
                    if not rows or not self.deliver_batch(drain, rows):
                        break
            finally:
                self._close_drain(drain)
        return handled

    def run_forever(self, poll_seconds: float = 1.0,
                    report: Callable[[int, Counter[str]], None] | None = None) -> None:
        """Deliver until ``stop`` is set, finishing the message in hand; idle, the connection is closed."""
        while not self.stop.is_set():
            before = Counter(self.stats)
            try:
                handled = self.drain()
            except Exception:
                with self.app.app_context():
                    log.exception("delivery loop error; retrying")
                handled = 0
            if handled and report is not None:
                report(handled, self.stats - before)
            if handled == 0:
                self.stop.wait(poll_seconds)

