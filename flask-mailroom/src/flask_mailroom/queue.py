"""The queue as operators see it: what is in it, putting messages back, a test message.

One module for ``flask mail status|retry|send-test`` and the host's admin pages, so they agree
on every figure ("oldest queued" is the oldest message not yet delivered: queued or being sent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from flask import current_app
from sqlalchemy import ColumnElement, func, literal_column, select, update

from flask_mailroom.compose.deferred import builders
from flask_mailroom.compose.message import Message
from flask_mailroom.engine import heartbeats, tally
from flask_mailroom.engine.heartbeats import Engine, Lane, WorkerReport
from flask_mailroom.models.outbox import BULK, TRANSACTIONAL, OutboxMessage, OutboxStatus
from flask_mailroom.store import db, now, state

__all__ = [
    "BULK",
    "TRANSACTIONAL",
    "Engine",
    "Lane",
    "OutboxMessage",
    "OutboxStatus",
    "QueueStatus",
    "RetryRefused",
    "WorkerReport",
    "announcement_counts",
    "engine_status",
    "oldest_waiting",
    "queue_status",
    "refresh_statistics",
    "retry",
    "retry_failed",
    "send_test",
    "status_counts",
]

QUEUED = OutboxStatus.QUEUED.value
SENDING = OutboxStatus.SENDING.value
SENT = OutboxStatus.SENT.value
FAILED = OutboxStatus.FAILED.value
WAITING = (QUEUED, SENDING)
STATUSES = tuple(status.value for status in OutboxStatus)
TEST_SUBJECT = "Mailroom test message"


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
    unknown_builders: dict[str, int]

    @property
    def oldest_age(self) -> timedelta | None:
        """How long the oldest undelivered message has been waiting."""
        return None if self.oldest_waiting is None else max(timedelta(0), self.taken_at - self.oldest_waiting)


def _count(*conditions: ColumnElement[bool]) -> int:
    """How many outbox rows match."""
    return int(db.session.scalar(select(func.count()).select_from(OutboxMessage).where(*conditions)) or 0)


def _in(*statuses: str) -> ColumnElement[bool]:
    """Rows in ``statuses``, written as literals: a prepared statement's generic plan can then
    still use the partial indexes whose condition names them."""
    return OutboxMessage.status.in_([literal_column(f"'{status}'") for status in statuses])


def _complete(found: dict[str, int]) -> dict[str, int]:
    """Every status, zero when none."""
    return {status: found.get(status, 0) for status in STATUSES}


def status_counts(*conditions: ColumnElement[bool]) -> dict[str, int]:
    """How many outbox rows are in each status (every status present, zero when none): summed
    from the tally without conditions, counted when given some."""
    if not conditions:
        return _complete(dict(tally.by_status(tally.groups(db.session()))))
    query = select(OutboxMessage.status, func.count()).where(*conditions).group_by(OutboxMessage.status)
    return _complete({str(status): int(count) for status, count in db.session.execute(query)})


def announcement_counts(ids: list[int]) -> dict[int, dict[str, int]]:
    """How many copies of each announcement in ``ids`` are in each status (from the tally)."""
    found = tally.by_announcement(tally.groups(db.session()), set(ids))
    return {aid: _complete(dict(found.get(aid, {}))) for aid in ids}


def oldest_waiting() -> datetime | None:
    """When the oldest message not yet delivered (queued or being sent) was written."""
    found: datetime | None = db.session.scalar(
        select(func.min(OutboxMessage.created_at)).where(_in(*WAITING)))
    return found


def unknown_builders(groups: list[tally.Group]) -> dict[str, int]:
    """Waiting deferred rows whose builder is not registered: name -> how many rows."""
    known = builders().functions
    return {name: count for name, count in tally.by_builder(groups, WAITING).items()
            if name not in known}


def queue_status() -> QueueStatus:
    """Counts by status, what is due, expired claims, the oldest waiting message and the deferred
    messages no registered builder can build, without counting the whole outbox; ends the read
    transaction."""
    moment = now()
    groups = tally.groups(db.session())
    counts = _complete(dict(tally.by_status(groups)))
    later = sum(tally.not_due(db.session(), moment).values())
    snapshot = QueueStatus(
        counts=counts, due_now=max(0, counts[QUEUED] - later),
        expired_claims=_count(_in(SENDING), OutboxMessage.claimed_until < moment),
        oldest_waiting=oldest_waiting(), taken_at=moment,
        unknown_builders=unknown_builders(groups),
    )
    db.session.commit()
    return snapshot


def refresh_statistics() -> bool:
    """After a large insert (a fan-out), refresh the database's statistics of the outbox, so that
    the queries of the pages and of the workers are planned for the queue as it now is; whether
    that was done (PostgreSQL: ``ANALYZE outbox``, a sample, not a count; elsewhere nothing).

    Autovacuum would, a minute or so later (never, where it is switched off); until then a query
    that an index answers at once can be planned as a read of every row (``flask mail status``
    and the dashboard took 0.2 and 0.9 s at a million copies, instead of milliseconds).
    """
    with db.engine.connect() as connection:
        if connection.dialect.name != "postgresql":
            return False
        connection.exec_driver_sql("ANALYZE outbox")
        connection.commit()
    return True


def engine_status() -> heartbeats.Engine:
    """Per-lane queue depth, messages in flight, the current rate, and each live worker's breaker."""
    status = heartbeats.engine_status(db.session.connection(), now())
    db.session.commit()
    return status


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
        row.throttles = 0
        row.failed_at = None
    row.status = QUEUED
    row.next_attempt_at = now()
    db.session.commit()
    return row


def retry_failed(ids: list[int] | None = None) -> int:
    """Queue failed messages that still have their body again, due now, with a fresh set of
    attempts (all, or those ``ids``)."""
    condition = ((OutboxMessage.status == FAILED) & OutboxMessage.purged_at.is_(None)
                 & OutboxMessage.expires_at.is_(None))
    if ids is not None:
        condition = condition & OutboxMessage.id.in_(ids)
    result = db.session.execute(
        update(OutboxMessage).where(condition)
        .values(status=QUEUED, attempts=0, throttles=0, next_attempt_at=now(), failed_at=None,
                claimed_by=None, claimed_until=None))
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


def site_url() -> str:
    """The site the test message names: SERVER_NAME with PREFERRED_URL_SCHEME, when set."""
    config = current_app.config
    server = config.get("SERVER_NAME")
    if not server:
        return "(SERVER_NAME not set)"
    return f"{config.get('PREFERRED_URL_SCHEME') or 'http'}://{server}/"


def build_test_message(address: str) -> Message:
    """The test message: when it was sent, to whom, from which site."""
    sent = now().strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = ["Hello,", "", "This is a test message from Mailroom, sent with `flask mail send-test` "
             f"at {sent}.", "",
             f"If you can read it, mail reaches {address} through the configured mail server.",
             f"Site: {site_url()}", "", "-- Mailroom", ""]
    html = "".join(f"<p>{escape(line)}</p>" for line in lines if line)
    return Message(TEST_SUBJECT, recipients=[address], body="\n".join(lines), html=html)


def send_test(address: str) -> Queued:
    """Store the test message to ``address``."""
    row = state().mail.send(build_test_message(address), template="test")
    return Queued(row.id, row.message_id, row.status, row.last_error)


def state_of(message_id: int) -> Queued:
    """Where message ``message_id`` is now."""
    return snapshot(find(str(message_id)))
