"""The delivery worker: claim due outbox rows, hand them to the transport, record the outcome."""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask
from flask_mail import email_dispatched
from sqlalchemy import ColumnElement, and_, or_, select, update

from mailroom.domain.backoff import RetryPolicy
from mailroom.extensions import db
from mailroom.mail.transport import DeliveryError, Transport, transport_for
from mailroom.models.outbox import OutboxMessage, OutboxStatus
from mailroom.state import state

log = logging.getLogger(__name__)

QUEUED = OutboxStatus.QUEUED.value
SENDING = OutboxStatus.SENDING.value
SENT = OutboxStatus.SENT.value
FAILED = OutboxStatus.FAILED.value


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
    """Rows ready to deliver: queued and due, or claimed by a worker whose claim has expired."""
    return or_(
        and_(OutboxMessage.status == QUEUED, OutboxMessage.next_attempt_at <= moment),
        and_(OutboxMessage.status == SENDING, OutboxMessage.claimed_until < moment),
    )


@dataclass
class Worker:
    """One delivery worker bound to an application."""

    app: Flask
    worker_id: str = field(default_factory=new_worker_id)
    rng: random.Random = field(default_factory=random.SystemRandom)
    transport: Transport | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def now(self) -> datetime:
        """The application's clock."""
        return state(self.app).clock.now()

    def claim(self, limit: int) -> list[OutboxMessage]:
        """Atomically take up to ``limit`` due rows, account mail first, counting the attempt."""
        moment = self.now()
        due = (select(OutboxMessage.id).where(due_condition(moment))
               .order_by(OutboxMessage.priority, OutboxMessage.next_attempt_at, OutboxMessage.id)
               .limit(limit).with_for_update(skip_locked=True))
        claimed_until = moment + timedelta(seconds=self.app.config["OUTBOX_CLAIM_TTL"])
        ids = db.session.scalars(
            update(OutboxMessage).where(OutboxMessage.id.in_(due.scalar_subquery()))
            .values(status=SENDING, claimed_by=self.worker_id, claimed_until=claimed_until,
                    attempts=OutboxMessage.attempts + 1)
            .returning(OutboxMessage.id)
        ).all()
        db.session.commit()
        if not ids:
            return []
        rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))
                                  .order_by(OutboxMessage.priority, OutboxMessage.id)).all()
        db.session.commit()
        return list(rows)

    def _finish(self, row: OutboxMessage, **values: object) -> None:
        """Record an outcome, but only while the claim is still ours."""
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.claimed_by == self.worker_id,
                   OutboxMessage.status == SENDING)
            .values(claimed_by=None, claimed_until=None, **values)
        )
        db.session.commit()

    def deliver(self, row: OutboxMessage, transport: Transport) -> bool:
        """Send one claimed row and record the result; True when it was delivered."""
        try:
            transport.send(row.sender, row.recipients, row.raw)
        except DeliveryError as error:
            self._failed(row, error)
            return False
        self._finish(row, status=SENT, sent_at=self.now(), last_error=None)
        self._signal(row)
        return True

    def _failed(self, row: OutboxMessage, error: DeliveryError) -> None:
        """Retry later with backoff, or give up: permanent errors and exhausted attempts fail."""
        text = str(error)[:2000]
        retry_at = None if error.permanent else policy_for(self.app).next_attempt(
            row.attempts, self.now(), self.rng)
        if retry_at is None or row.attempts >= row.max_attempts:
            log.warning("message %s failed: %s", row.message_id, text)
            self._finish(row, status=FAILED, failed_at=self.now(), last_error=text)
        else:
            self._finish(row, status=QUEUED, next_attempt_at=retry_at, last_error=text)

    def _signal(self, row: OutboxMessage) -> None:
        """Fire Flask-Mail's email_dispatched, so record_messages() sees what we delivered."""
        if not email_dispatched.receivers:
            return
        from mailroom.mail.parse import message_from_raw

        email_dispatched.send(self.app, message=message_from_raw(row.raw, row.recipients))

    def run_batch(self) -> int:
        """Claim one batch and deliver it over one connection; return how many were claimed."""
        rows = self.claim(self.app.config["OUTBOX_BATCH_SIZE"])
        if not rows:
            return 0
        transport = self.transport or transport_for(self.app.config)
        try:
            for row in rows:
                if self.stop.is_set():
                    self._release(rows[rows.index(row):])
                    break
                self.deliver(row, transport)
        finally:
            if self.transport is None:
                transport.close()
        return len(rows)

    def _release(self, rows: list[OutboxMessage]) -> None:
        """Give back rows claimed but not attempted, so a stopping worker leaves them due."""
        for row in rows:
            self._finish(row, status=QUEUED, attempts=OutboxMessage.attempts - 1)

    def drain(self) -> int:
        """Deliver everything due now, then return how many rows were handled (``--burst``)."""
        handled = 0
        with self.app.app_context():
            while not self.stop.is_set():
                count = self.run_batch()
                if count == 0:
                    break
                handled += count
        return handled

    def run_forever(self, poll_seconds: float = 1.0) -> None:
        """Deliver until ``stop`` is set, finishing the message in hand."""
        while not self.stop.is_set():
            try:
                handled = self.drain()
            except Exception:
                log.exception("delivery loop error; retrying")
                handled = 0
            if handled == 0:
                self.stop.wait(poll_seconds)
