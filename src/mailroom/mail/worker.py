"""The delivery worker: claim due outbox rows, hand them to the transport, record the outcome.

A drain keeps one transport (one SMTP connection) across all its batches and closes it when
nothing is left. While a batch goes out, the next one is claimed on a second thread and outcomes
are written on a third (``recorder.OutcomeWriter``), so the connection is never idle waiting for
the database. See ``claims`` for how rows are claimed safely by many workers.
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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import Connection

from mailroom.domain.backoff import RetryPolicy
from mailroom.domain.suppression import Screening, Verdict
from mailroom.mail import claims, deferred, deliverability, inbound, retention
from mailroom.mail.claims import Claimed, due_condition
from mailroom.mail.models.outbox import OutboxStatus
from mailroom.mail.recorder import Outcome, OutcomeWriter
from mailroom.mail.signals import email_delivered
from mailroom.mail.store import db, state
from mailroom.mail.transport import (
    ConnectionFailure,
    DeliveryError,
    PermanentFailure,
    Refused,
    TemporaryFailure,
    Transport,
    transport_for,
)

__all__ = ["Claimed", "Worker", "due_condition", "new_worker_id", "policy_for"]

log = logging.getLogger(__name__)

QUEUED = OutboxStatus.QUEUED.value
SENT = OutboxStatus.SENT.value
FAILED = OutboxStatus.FAILED.value
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


@dataclass
class Batch:
    """Rows claimed together; when their claim is due for renewal; which are still ours (None: all)."""

    rows: list[Claimed]
    renew_at: datetime
    held: set[int] | None = None


@dataclass
class Drain:
    """What one drain holds: the transport, the outcome writer, and the claiming thread."""

    transport: Transport
    writer: OutcomeWriter
    claimer: ThreadPoolExecutor
    connection: Connection


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

    def claim_batch(self, connection: Connection) -> Batch:
        """Claim the next batch on ``connection`` (recovering expired claims first)."""
        moment = self.now()
        rows = claims.claim(connection, self.worker_id, moment, moment + self.claim_ttl(),
                            self.app.config["OUTBOX_BATCH_SIZE"])
        return Batch(rows, moment + self.claim_ttl() / 2)

    def claim(self, limit: int) -> list[Claimed]:
        """Claim up to ``limit`` due rows now, on a connection of its own."""
        moment = self.now()
        with db.engine.connect() as connection:
            return claims.claim(connection, self.worker_id, moment, moment + self.claim_ttl(), limit)

    def _still_held(self, batch: Batch, row: Claimed, moment: datetime) -> bool:
        """Whether ``row`` is still ours; once half the claim's lifetime has gone, the claim on the
        whole batch is extended first (a batch claimed ahead may have waited that long)."""
        if moment >= batch.renew_at:
            with db.engine.connect() as connection:
                batch.held = claims.renew(connection, self.worker_id, batch.rows,
                                          moment + self.claim_ttl())
            batch.renew_at = moment + self.claim_ttl() / 2
        return batch.held is None or row.id in batch.held

    # --- outcomes ------------------------------------------------------------------------------

    def _record(self, drain: Drain, row: Claimed, outcome: Outcome, refused: Refused | None = None) -> None:
        """Hand an outcome to the writer with its effects: a final one drops an account body, and
        recipients refused with 5xx are recorded as hard bounces (which suppresses them)."""
        if deliverability.is_final(outcome.values):
            outcome = replace(outcome, expressions={**outcome.expressions,
                                                    **deliverability.drop_account_body()})
        drain.writer.put(outcome)
        if refused:
            deliverability.record_refusals(row.id, refused, "smtp")

    def _sent(self, drain: Drain, row: Claimed, refused: Refused) -> None:
        """Record a delivery and signal it; recipients refused with 4xx keep the row queued for them."""
        self.stats["sent"] += 1
        reply = str(getattr(drain.transport, "last_reply", "") or "")[:MAX_ERROR] or None
        if not refused:
            self._record(drain, row, Outcome(row.id, {**SENT_VALUES, "server_reply": reply},
                                             stamp="sent_at"))
        else:
            self._record(drain, row, self._partly_sent(row, refused), refused)
        self._signal(row)

    def _withhold(self, drain: Drain, row: Claimed, found: Screening) -> None:
        """Close a row that must not go out (its link expired, or everyone is suppressed)."""
        self.stats[found.verdict.value] += 1
        self._record(drain, row, Outcome(row.id, deliverability.withheld_values(found), stamp="closed_at"))

    def _partly_sent(self, row: Claimed, refused: Refused) -> Outcome:
        """Sent, noting who refused; queued again for those refused with 4xx while attempts last."""
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
            self._record(drain, row, Outcome(row.id, {"status": FAILED, "last_error": text},
                                             stamp="failed_at"), error.refused)
        else:
            self.stats["retried"] += 1
            self._record(drain, row, Outcome(row.id, {"status": QUEUED, "next_attempt_at": retry_at,
                                                      "last_error": text}))

    def _release(self, drain: Drain, rows: Sequence[Claimed]) -> None:
        """Give back rows claimed but not attempted, so they are due again at once."""
        for row in rows:
            self._record(drain, row, Outcome(row.id, {"status": QUEUED},
                                             {"attempts": claims.TABLE.c.attempts - 1}))

    def _signal(self, row: Claimed) -> None:
        """Fire ``email_delivered`` with the message as delivered (rebuilt only when someone listens)."""
        if not email_delivered.receivers:
            return
        from mailroom.mail.parse import message_from_raw

        email_delivered.send(self.app, message=message_from_raw(row.raw, row.recipients))

    # --- delivering ----------------------------------------------------------------------------

    def _materialize(self, drain: Drain, row: Claimed) -> Claimed | None:
        """Build a deferred row's message; None when there is nothing to send (or it failed)."""
        try:
            built = deferred.materialize(row, self.worker_id)
        except Exception as error:  # a builder's bug or a database hiccup: retry like a 4xx
            log.warning("building deferred message %s failed: %s", row.message_id, type(error).__name__)
            self._failed(drain, row, TemporaryFailure(f"building the message failed: {error!r}"[:200]))
            return None
        if built is None:
            self.stats["skipped"] += 1
        return built

    def deliver_one(self, drain: Drain, row: Claimed) -> None:
        """Send one claimed row and record what happened; ConnectionFailure is left to the batch."""
        if row.attempts > row.max_attempts:
            self._failed(drain, row, PermanentFailure(
                f"gave up after {row.attempts - 1} attempts (workers stopped mid-delivery)"))
            return
        if not row.raw:
            built = self._materialize(drain, row)
            if built is None:
                return
            row = built
        try:
            refused = drain.transport.send(row.sender, row.recipients, row.raw)
        except ConnectionFailure:
            raise
        except DeliveryError as error:
            self._failed(drain, row, error)
            return
        self._sent(drain, row, refused)

    def deliver_batch(self, drain: Drain, batch: Batch) -> bool:
        """Deliver a batch in order; False when the drain should end (stopping, or no connection)."""
        rows = batch.rows
        screen = deliverability.screen_batch(rows, self.now())
        for index, row in enumerate(rows):
            if self.stop.is_set():
                self._release(drain, rows[index:])
                return False
            if not self._still_held(batch, row, self.now()):
                continue
            found = screen.of(row.id)
            if found is not None and found.verdict is not Verdict.SEND:
                self._withhold(drain, row, found)
                continue
            if found is not None:
                row = replace(row, recipients=list(found.recipients))
            try:
                self.deliver_one(drain, row)
            except ConnectionFailure as error:
                log.warning("cannot reach the mail server: %s", error)
                for waiting in rows[index:]:
                    self._failed(drain, waiting, error)
                return False
        return True

    def _open_drain(self, connection: Connection) -> Drain:
        """A transport (the injected one, or one from configuration), a writer and a claimer."""
        transport = self.transport or transport_for(self.app.config)
        writer = OutcomeWriter(db.engine, self.worker_id, self.now)
        claimer = ThreadPoolExecutor(1, thread_name_prefix="mailroom-claims")
        return Drain(transport, writer, claimer, connection)

    def _close_drain(self, drain: Drain) -> None:
        """Close the SMTP connection (unless injected), then wait for every outcome to be written."""
        try:
            if self.transport is None:
                drain.transport.close()
        finally:
            drain.claimer.shutdown(wait=True)
            drain.writer.close()

    def _deliver_all(self, drain: Drain, batch: Batch) -> int:
        """Deliver batch after batch, claiming the next while the current one goes out."""
        handled = 0
        while batch.rows:
            handled += len(batch.rows)
            upcoming: Future[Batch] = drain.claimer.submit(self.claim_batch, drain.connection)
            carry_on = self.deliver_batch(drain, batch)
            batch = upcoming.result()
            if not carry_on or self.stop.is_set():
                self._release(drain, batch.rows)
                break
        return handled

    def drain(self) -> int:
        """Deliver everything due now over one connection, then return how many rows were handled."""
        with self.app.app_context(), db.engine.connect() as connection:
            inbound.process_pending()
            batch = self.claim_batch(connection)
            if not batch.rows:
                return 0
            drain = self._open_drain(connection)
            try:
                return self._deliver_all(drain, batch)
            finally:
                self._close_drain(drain)

    def run_forever(self, poll_seconds: float = 1.0,
                    report: Callable[[int, Counter[str]], Any] | None = None) -> None:
        """Deliver until ``stop`` is set, finishing the message in hand; idle, the connection is closed."""
        while not self.stop.is_set():
            before = Counter(self.stats)
            try:
                handled = self.drain()
            except Exception:
                with self.app.app_context():
                    log.exception("delivery loop error; retrying")
                handled = 0
            retention.purge_if_due(self.app)
            if handled and report is not None:
                report(handled, self.stats - before)
            if handled == 0:
                self.stop.wait(poll_seconds)
