"""Mailroom's emails, through the mail extension's public API: a template pair per email, queued
in the caller's transaction (the use case commits)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_mail import Message
from flask_mailroom.compose import Envelope, compose
from flask_mailroom.queue import TRANSACTIONAL, OutboxMessage

from mailroom.extensions import db, mail

Address = str | tuple[str, str]


def queue(message: Message, *, template: str | None = None, kind: str = TRANSACTIONAL,
          dedupe_key: str | None = None, announcement_id: int | None = None,
          expires_at: datetime | None = None) -> OutboxMessage:
    """Add ``message`` to the outbox in the current transaction."""
    return mail.send(message, session=db.session, template=template, kind=kind, dedupe_key=dedupe_key,
                     announcement_id=announcement_id, expires_at=expires_at)


def send_email(template: str, to: Address, *, locale: str | None = None, timezone: str | None = None,
               expires_at: datetime | None = None, **context: Any) -> OutboxMessage:
    """Compose an account email to one person in their language (the subject is the template's) and
    queue it (caller commits); ``expires_at``: when the link or code in it stops working."""
    message = compose(template, Envelope(recipients=[to]), locale=locale, timezone=timezone, **context)
    return queue(message, template=template, expires_at=expires_at)
