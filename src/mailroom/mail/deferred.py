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
from datetime import UTC, datetime
from email.utils import make_msgid
from typing import Any

from flask import current_app
from flask_mail import Message
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from mailroom.extensions import db
from mailroom.mail.claims import Claimed
from mailroom.mail.compose import envelope_sender, finished_bytes, message_id_domain, outbox_row
from mailroom.models.outbox import PRIORITY, TRANSACTIONAL, OutboxMessage, OutboxStatus
from mailroom.state import now


@dataclass(frozen=True)
class Skip:
    """A builder's answer when there is nothing to send, and why (shown to the admin only)."""

    reason: str


Builder = Callable[[str, Mapping[str, Any]], "Message | Skip | None"]
Params = Mapping[str, str | int]
_BUILDERS: dict[str, Builder] = {}
# The builders whose messages are rendered on every attempt instead of stored.
_EACH_ATTEMPT: set[str] = set()


class UnknownBuilder(LookupError):
    """A deferred row names a builder this process does not have."""


@dataclass(frozen=True)
class Intent:
    """One deferred email to queue in bulk: to whom, the builder's parameters, an optional dedupe key."""

    to: str
    params: Params
    dedupe_key: str | None = None


def register(name: str, function: Builder, *, each_attempt: bool = False) -> None:
    """Make ``function`` the builder called ``name``; ``each_attempt`` renders it at every attempt
    (it must then be deterministic and read-only) instead of storing its first result."""
    _BUILDERS[name] = function
    if each_attempt:
        _EACH_ATTEMPT.add(name)
    else:
        _EACH_ATTEMPT.discard(name)


def builder(name: str) -> Callable[[Builder], Builder]:
    """Register a function that turns (address, params) into a Message, or None for nothing."""

    def decorate(function: Builder) -> Builder:
        register(name, function)
        return function

    return decorate


def defer(name: str, to: str, *, expires_at: datetime | None = None,
          **params: str | int) -> OutboxMessage:
    """Queue a deferred email to ``to`` in the current transaction (the caller commits);
    ``expires_at``: past it the request is stale and nothing is built or sent."""
    moment = now()
    row = OutboxMessage(
        message_id=make_msgid(domain=message_id_domain()), kind=TRANSACTIONAL,
        priority=PRIORITY[TRANSACTIONAL], status=OutboxStatus.QUEUED.value, template=name,
        subject="", sender="", recipients=[to], raw=b"", attempts=0,
        max_attempts=current_app.config["OUTBOX_MAX_ATTEMPTS"], next_attempt_at=moment,
        created_at=moment, meta={"deferred": name, "params": params}, expires_at=expires_at,
        address_key=to.lower(),
    )
    db.session.add(row)
    return row


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
              "max_attempts": attempts, "next_attempt_at": moment, "created_at": moment,
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
    if name not in _BUILDERS:
        raise UnknownBuilder(f"no builder named {name!r}")
    return _BUILDERS[name](row.recipients[0], row.meta.get("params") or {})


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
    except BaseException:
        db.session.rollback()
        raise
    if message is None or isinstance(message, Skip):
        reason = message.reason if message is not None else None
        _store(row, worker_id, {"status": OutboxStatus.SKIPPED.value, "claimed_by": None,
                                "claimed_until": None, "sent_at": now(), "last_error": reason})
        return None
    if row.meta.get("deferred") in _EACH_ATTEMPT:
        db.session.commit()
        return render(row, message)
    message.msgId = row.message_id
    built = outbox_row(message, template=row.meta.get("deferred"))
    values = {"raw": built.raw, "subject": built.subject, "sender": built.sender,
              "recipients": built.recipients}
    if not _store(row, worker_id, values):
        return None
    return replace(row, raw=built.raw, sender=built.sender, recipients=built.recipients)
