"""Operating the queue: what is in it, putting messages back, a test message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from mailroom.extensions import db
from mailroom.mail.compose import send_email
from mailroom.models.outbox import OutboxMessage, OutboxStatus
from mailroom.state import now
from mailroom.urls import external_url

QUEUED = OutboxStatus.QUEUED.value
SENDING = OutboxStatus.SENDING.value
SENT = OutboxStatus.SENT.value
FAILED = OutboxStatus.FAILED.value
WAITING = (QUEUED, SENDING)


class RetryRefused(Exception):
    """The message cannot be put back in the queue; the text says why."""


@dataclass(frozen=True)
class QueueStatus:
    """A snapshot of the outbox."""

    counts: dict[str, int]
    due_now: int
    expired_claims: int
    oldest_waiting: datetime | None
    taken_at: datetime

    @property
    def oldest_age(self) -> timedelta | None:
        """How long the oldest undelivered message has been waiting."""
        return None if self.oldest_waiting is None else self.taken_at - self.oldest_waiting


def _count(*conditions: object) -> int:
    """How many outbox rows match."""
    return int(db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                 .where(*conditions)) or 0)  # type: ignore[arg-type]


def queue_status() -> QueueStatus:
    """Counts by status (every status, zero included), what is due, and the oldest waiting message."""
    moment = now()
    found = {str(status): int(count) for status, count in db.session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))}
    counts = {status.value: found.get(status.value, 0) for status in OutboxStatus}
    oldest = db.session.scalar(select(func.min(OutboxMessage.created_at))
                               .where(OutboxMessage.status.in_(WAITING)))
    return QueueStatus(
        counts=counts,
        due_now=_count(OutboxMessage.status == QUEUED, OutboxMessage.next_attempt_at <= moment),
        expired_claims=_count(OutboxMessage.status == SENDING, OutboxMessage.claimed_until < moment),
        oldest_waiting=oldest, taken_at=moment,
    )


def find(identifier: str) -> OutboxMessage:
    """A row by its number or its Message-ID (with or without the angle brackets)."""
    text = identifier.strip()
    if text.isdigit():
        row = db.session.get(OutboxMessage, int(text))
    else:
        wanted = text if text.startswith("<") else f"<{text}>"
        row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.message_id == wanted))
    if row is None:
        raise LookupError(f"no message {identifier!r} in the outbox")
    return row


def retry(identifier: str) -> OutboxMessage:
    """Make one message due now: a failed one with a fresh set of attempts, a queued one at once."""
    row = find(identifier)
    if row.status == SENT:
        raise RetryRefused(f"message {row.id} was already sent at {row.sent_at:%Y-%m-%d %H:%M:%S}")
    if row.status == SENDING:
        raise RetryRefused(f"message {row.id} is being delivered by {row.claimed_by} right now")
    if row.purged_at is not None:
        raise RetryRefused(f"message {row.id} has no body any more: it was dropped after the "
                           f"retention period, at {row.purged_at:%Y-%m-%d %H:%M:%S}")
    if row.expires_at is not None and row.status != QUEUED:
        raise RetryRefused(f"message {row.id} carried a link or code that is no longer kept "
                           "(or no longer works): the person should ask for a new email")
    if row.status == FAILED:
        row.attempts = 0
        row.failed_at = None
    row.status = QUEUED
    row.next_attempt_at = now()
    db.session.commit()
    return row


def retry_all_failed() -> int:
    """Put every failed message that still has its body back in the queue, due now; how many."""
    result = db.session.execute(
        update(OutboxMessage).where(OutboxMessage.status == FAILED, OutboxMessage.purged_at.is_(None),
                                    OutboxMessage.expires_at.is_(None))
        .values(status=QUEUED, attempts=0, failed_at=None, next_attempt_at=now())
    )
    db.session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class Queued:
    """Where a message is: its number, Message-ID, status and last error."""

    id: int
    message_id: str
    status: str
    last_error: str | None


def snapshot(row: OutboxMessage) -> Queued:
    """Read what we report about a row, then end the transaction (SQLite's lock must be free for workers)."""
    found = Queued(row.id, row.message_id, row.status, row.last_error)
    db.session.commit()
    return found


def send_test(address: str) -> Queued:
    """Queue the test message to ``address`` and commit."""
    row = send_email("test", address, "Mailroom test message", sent_at=now(), address=address,
                     site_url=external_url("main.index"))
    db.session.commit()
    return snapshot(row)


def state_of(message_id: int) -> Queued:
    """Where message ``message_id`` is now."""
    return snapshot(find(str(message_id)))
