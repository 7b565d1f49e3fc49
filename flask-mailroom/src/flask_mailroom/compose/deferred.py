"""Deferred emails: the request stores who and which email; the worker builds the message.

A use case that must answer fast and identically whatever the database holds (a reset request
must not tell whether an address has an account) queues a row naming a builder and a recipient
address, nothing else: no look-up, no token, no rendering in the request. The worker calls the
builder once, in one transaction that stores the finished message (so retries resend the same
bytes and Message-ID) or marks the row skipped when there is nothing to send.

A builder registered with ``each_attempt=True`` is never stored: the worker renders the message
again on every attempt from the row's parameters, with the row's Message-ID, the Date fixed when
the row was queued and MIME boundaries derived from the Message-ID, so every attempt sends the
same bytes. That is how an announcement is stored once: each copy's row keeps only what is
personal, queued in bulk with ``defer_many``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import make_msgid
from typing import Any

from flask import current_app
from flask_mail import Message
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flask_mailroom.compose.message import message_id_domain
from flask_mailroom.compose.outbox import envelope_sender, finished_bytes, outbox_row
from flask_mailroom.models.outbox import PRIORITY, TRANSACTIONAL, Claimed, OutboxMessage, OutboxStatus
from flask_mailroom.signals import dispatched
from flask_mailroom.store import db, now, state


@dataclass(frozen=True)
class Skip:
    """A builder's answer when there is nothing to send, and why (shown to the admin only)."""

    reason: str


Builder = Callable[[str, Mapping[str, Any]], "Message | Skip | None"]
Params = Mapping[str, str | int]
# A row whose builder this worker lacks waits this long before it is looked at again; its attempt
# is not counted (a worker of an older release may simply not know the builder yet).
UNKNOWN_BUILDER_WAIT = timedelta(minutes=1)
WAITING = (OutboxStatus.QUEUED.value, OutboxStatus.SENDING.value)


class UnknownBuilder(LookupError):
    """A deferred row names a builder this application has not registered."""


@dataclass(frozen=True)
class Intent:
    """One deferred email to queue in bulk: to whom, the builder's parameters, an optional dedupe key."""

    to: str
    params: Params
    dedupe_key: str | None = None


@dataclass
class Builders:
    """The builders one Mail knows, and which of them render at every attempt instead of once."""

    functions: dict[str, Builder]
    each_attempt: set[str]

    def register(self, name: str, function: Builder, *, each_attempt: bool = False) -> None:
        """Make ``function`` the builder called ``name``; ``each_attempt`` renders it at every attempt
        (it must then be deterministic and read-only) instead of storing its first result."""
        self.functions[name] = function
        if each_attempt:
            self.each_attempt.add(name)
        else:
            self.each_attempt.discard(name)


def builders() -> Builders:
    """The builders registered on the current application's Mail."""
    found: Builders = state().mail.builders
    return found


def deferred_row(name: str, to: str, params: Mapping[str, str | int], *,
                 expires_at: datetime | None = None) -> OutboxMessage:
    """A new row naming builder ``name`` and the recipient, with no message yet (not added);
    ``expires_at``: past it the request is stale and nothing is built or sent."""
    moment = now()
    return OutboxMessage(
        message_id=make_msgid(domain=message_id_domain()), kind=TRANSACTIONAL,
        priority=PRIORITY[TRANSACTIONAL], status=OutboxStatus.QUEUED.value, template=name,
        subject="", sender="", recipients=[to], raw=b"", attempts=0,
        max_attempts=current_app.config["OUTBOX_MAX_ATTEMPTS"], next_attempt_at=moment,
        created_at=moment, meta={"deferred": name, "params": dict(params)}, expires_at=expires_at,
        address_key=to.lower(),
    )


def defer(name: str, to: str, *, expires_at: datetime | None = None,
          **params: str | int) -> OutboxMessage:
    """Queue a deferred email to ``to`` in the current transaction (the caller commits)."""
    row = deferred_row(name, to, params, expires_at=expires_at)
    db.session.add(row)
    return row


def waiting_builders(session: Session) -> dict[str, int]:
    """Builder names of the deferred rows still waiting to be built, with how many rows name each."""
    name = OutboxMessage.meta["deferred"].as_string()
    query = (select(name, func.count()).where(OutboxMessage.status.in_(WAITING),
                                             func.length(OutboxMessage.raw) == 0, name.is_not(None))
             .group_by(name))
    return {str(found): int(count) for found, count in session.execute(query)}


def unknown_builders(session: Session) -> dict[str, int]:
    """Waiting deferred rows whose builder is not registered: name -> how many rows."""
    known = builders().functions
    return {name: count for name, count in waiting_builders(session).items() if name not in known}


def defer_many(name: str, intents: Sequence[Intent], *, kind: str, subject: str, sender: str,
               announcement_id: int | None = None) -> int:
    """Queue one row per intent with a single INSERT (no rendering); the caller commits.

    ``subject`` and ``sender`` are stored for the operator's views; the message's Date is fixed
    now, so that every attempt renders the same bytes.
    """
    if not intents:
        return 0
    moment = now()
    domain, attempts = message_id_domain(), current_app.config["OUTBOX_MAX_ATTEMPTS"]
    shared = {"kind": kind, "priority": PRIORITY[kind], "status": OutboxStatus.QUEUED.value,
              "template": name, "subject": subject, "sender": sender, "raw": b"", "attempts": 0,
              "max_attempts": attempts, "throttles": 0, "next_attempt_at": moment, "created_at": moment,
              "announcement_id": announcement_id}
    stamp = int(moment.timestamp())
    rows = [{**shared, "message_id": make_msgid(domain=domain), "recipients": [intent.to],
             "address_key": intent.to.lower(),
             "dedupe_key": intent.dedupe_key,
             "meta": {"deferred": name, "date": stamp, "params": dict(intent.params)}}
            for intent in intents]
    if db.session.connection().dialect.name == "postgresql":
        _copy_in(rows)
    else:
        db.session.execute(insert(OutboxMessage), rows)
    return len(rows)


def _copy_value(value: object) -> object:
    """A value as COPY takes it: JSON as text, times as the naive UTC the columns store."""
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _copy_in(rows: Sequence[Mapping[str, Any]]) -> None:
    """PostgreSQL: write the rows with COPY, in the session's transaction (several times faster
    than INSERT for thousands of rows); a duplicate dedupe key raises IntegrityError as usual."""
    connection = db.session.connection()
    columns = list(rows[0])
    driver = connection.connection.driver_connection
    assert driver is not None
    statement = f"COPY {OutboxMessage.__tablename__} ({', '.join(columns)}) FROM STDIN"
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([_copy_value(row[name]) for name in columns])
    except connection.dialect.dbapi.IntegrityError as error:  # type: ignore[union-attr]
        raise IntegrityError(statement, None, error) from error


def _store(row: Claimed, worker_id: str, values: Mapping[str, Any]) -> bool:
    """Write the build's result while the claim is still ours; False when it was taken over."""
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row.id, OutboxMessage.claimed_by == worker_id)
        .values(**values)
    )
    db.session.commit()
    return bool(getattr(result, "rowcount", 0))


def _build(row: Claimed) -> Message | Skip | None:
    """Run the row's builder (inside the caller's transaction)."""
    name = str(row.meta.get("deferred", ""))
    known = builders().functions
    if name not in known:
        raise UnknownBuilder(f"no builder named {name!r} is registered (mail.register_builder)")
    return known[name](row.recipients[0], row.meta.get("params") or {})


def _hold(row: Claimed, worker_id: str, error: UnknownBuilder) -> None:
    """Put a row whose builder is unknown back in the queue for later, without using an attempt."""
    current_app.logger.warning("deferred message %s: %s", row.message_id, error)
    _store(row, worker_id, {"status": OutboxStatus.QUEUED.value, "claimed_by": None,
                            "claimed_until": None, "attempts": row.attempts - 1,
                            "next_attempt_at": now() + UNKNOWN_BUILDER_WAIT, "last_error": str(error)})


def render(row: Claimed, message: Message) -> Claimed:
    """The row with the bytes of ``message`` as this row sends them: its Message-ID and its Date."""
    message.msgId = row.message_id
    message.date = float(row.meta["date"])
    return replace(row, raw=finished_bytes(message), sender=envelope_sender(message))


def materialize(row: Claimed, worker_id: str) -> Claimed | None:
    """Build a deferred row's message (and store it unless rendered at every attempt); None when
    it was skipped or is no longer ours."""
    try:
        message = _build(row)
    except UnknownBuilder as error:
        db.session.rollback()
        _hold(row, worker_id, error)
        return None
    except BaseException:
        db.session.rollback()
        raise
    if message is None or isinstance(message, Skip):
        reason = message.reason if message is not None else None
        _store(row, worker_id, {"status": OutboxStatus.SKIPPED.value, "claimed_by": None,
                                "claimed_until": None, "sent_at": now(), "last_error": reason})
        return None
    if row.meta.get("deferred") in builders().each_attempt:
        db.session.commit()
        return render(row, message)
    message.msgId = row.message_id
    built = outbox_row(message, template=row.meta.get("deferred"))
    values = {"raw": built.raw, "subject": built.subject, "sender": built.sender,
              "recipients": built.recipients}
    if not _store(row, worker_id, values):
        return None
    dispatched(message)
    return replace(row, raw=built.raw, sender=built.sender, recipients=built.recipients)
