"""The durable outbox: every message, from the transaction that caused it to its delivery."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Index, LargeBinary, String, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from flask_mailroom.models.base import BigId, MailBase

TRANSACTIONAL = "transactional"
BULK = "bulk"
# Lower is claimed first: account mail always before announcements.
PRIORITY = {TRANSACTIONAL: 0, BULK: 100}


class OutboxStatus(enum.StrEnum):
    """Where a message is in its life."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # A deferred email whose builder found nothing to send (e.g. a reset for an unknown address).
    SKIPPED = "skipped"
    # An account email whose link or code had stopped working before it could be delivered.
    EXPIRED = "expired"
    # Every recipient is on the suppression list (bounced, or complained about bulk mail).
    SUPPRESSED = "suppressed"


class OutboxMessage(MailBase):
    """One email: its rendered bytes, envelope, and delivery state."""

    __tablename__ = "outbox"
    __table__: ClassVar[Table]
    __table_args__ = (Index("ix_outbox_due", "status", "priority", "next_attempt_at"),
                      # What the retention purge walks: rows not yet purged, oldest first.
                      Index("ix_outbox_retention", "purged_at", "sent_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default=TRANSACTIONAL)
    priority: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.QUEUED.value)
    template: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text)
    sender: Mapped[str] = mapped_column(String(512))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=8)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
    failed_at: Mapped[datetime | None] = mapped_column(index=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    # The host's batch this copy belongs to (Mailroom: its announcement); no foreign key, as the
    # host's tables are not the mail core's.
    announcement_id: Mapped[int | None] = mapped_column(BigId, index=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # When retention dropped the body (raw bytes, a deferred row's parameters); metadata stays.
    purged_at: Mapped[datetime | None]
    # When the link or code the message carries stops working: never delivered after that.
    expires_at: Mapped[datetime | None]
    # The first recipient, lower-cased: the admin's per-address timeline looks rows up by it.
    address_key: Mapped[str | None] = mapped_column(String(320), index=True)
    # The mail server's reply to DATA, for "why didn't I get the email?".
    server_reply: Mapped[str | None] = mapped_column(Text)
    # When the row was closed without being sent (expired, suppressed).
    closed_at: Mapped[datetime | None]
    # Throttling replies (421, 451, 454) this message got: they use no attempt, but are bounded.
    throttles: Mapped[int] = mapped_column(default=0, server_default=text("0"))

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.status} {self.template}>"


@dataclass(frozen=True)
class Claimed:
    """What a worker needs of one claimed row (the row itself stays in the database)."""

    id: int
    message_id: str
    priority: int
    sender: str
    recipients: list[str]
    raw: bytes
    attempts: int
    max_attempts: int
    meta: dict[str, Any]
    throttles: int = 0
    kind: str = TRANSACTIONAL
    expires_at: datetime | None = None


COLUMNS = [OutboxMessage.__table__.c[name] for name in Claimed.__dataclass_fields__]
