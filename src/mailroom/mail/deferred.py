"""Deferred emails: the request stores who and which email; the worker builds the message.

A use case that must answer fast and identically whatever the database holds (a reset request
must not tell whether an address has an account) queues a row naming a builder and a recipient
address, nothing else: no look-up, no token, no rendering in the request. The worker calls the
builder once, in one transaction that stores the finished message (so retries resend the same
bytes and Message-ID) or marks the row skipped when there is nothing to send.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from email.utils import make_msgid
from typing import Any

from flask import current_app
from flask_mail import Message
from sqlalchemy import update

from mailroom.extensions import db
from mailroom.mail.claims import Claimed
from mailroom.mail.compose import message_id_domain, outbox_row
from mailroom.models.outbox import PRIORITY, TRANSACTIONAL, OutboxMessage, OutboxStatus
from mailroom.state import now

Builder = Callable[[str, Mapping[str, Any]], Message | None]
_BUILDERS: dict[str, Builder] = {}


class UnknownBuilder(LookupError):
    """A deferred row names a builder this process does not have."""


def builder(name: str) -> Callable[[Builder], Builder]:
    """Register a function that turns (address, params) into a Message, or None for nothing."""

    def register(function: Builder) -> Builder:
        _BUILDERS[name] = function
        return function

    return register


def defer(name: str, to: str, **params: str | int) -> OutboxMessage:
    """Queue a deferred email to ``to`` in the current transaction (the caller commits)."""
    moment = now()
    row = OutboxMessage(
        message_id=make_msgid(domain=message_id_domain()), kind=TRANSACTIONAL,
        priority=PRIORITY[TRANSACTIONAL], status=OutboxStatus.QUEUED.value, template=name,
        subject="", sender="", recipients=[to], raw=b"", attempts=0,
        max_attempts=current_app.config["OUTBOX_MAX_ATTEMPTS"], next_attempt_at=moment,
        created_at=moment, meta={"deferred": name, "params": params},
    )
    db.session.add(row)
    return row


def _store(row: Claimed, worker_id: str, values: Mapping[str, Any]) -> bool:
    """Write the build's result while the claim is still ours; False when it was taken over."""
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row.id, OutboxMessage.claimed_by == worker_id)
        .values(**values)
    )
    db.session.commit()
    return bool(getattr(result, "rowcount", 0))


def _build(row: Claimed) -> Message | None:
    """Run the row's builder (inside the caller's transaction)."""
    name = str(row.meta.get("deferred", ""))
    if name not in _BUILDERS:
        raise UnknownBuilder(f"no builder named {name!r}")
    return _BUILDERS[name](row.recipients[0], row.meta.get("params") or {})


def materialize(row: Claimed, worker_id: str) -> Claimed | None:
    """Build and store a deferred row's message; None when it was skipped or is no longer ours."""
    try:
        message = _build(row)
    except BaseException:
        db.session.rollback()
        raise
    if message is None:
        _store(row, worker_id, {"status": OutboxStatus.SKIPPED.value, "claimed_by": None,
                                "claimed_until": None, "sent_at": now()})
        return None
    message.msgId = row.message_id
    built = outbox_row(message, template=row.meta.get("deferred"))
    values = {"raw": built.raw, "subject": built.subject, "sender": built.sender,
              "recipients": built.recipients}
    if not _store(row, worker_id, values):
        return None
    return replace(row, raw=built.raw, sender=built.sender, recipients=built.recipients)
