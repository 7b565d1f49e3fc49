"""The durable outbox: every message, from the transaction that caused it to its delivery."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Index, LargeBinary, String, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from flask_mailroom.models.base import BigId, MailBase

TRANSACTIONAL = "transactional"
BULK = "bulk"
# Lower is claimed first: account mail always before announcements.
PRIORITY = {TRANSACTIONAL: 0, BULK: 100}
# The outbox's storage parameters on PostgreSQL (m0003 sets them on existing tables).
STORAGE = {"fillfactor": "85", "autovacuum_vacuum_scale_factor": "0.02",
           "autovacuum_vacuum_insert_scale_factor": "0.05", "autovacuum_analyze_scale_factor": "0.02",
           "autovacuum_vacuum_cost_limit": "2000", "autovacuum_vacuum_cost_delay": "1"}


def partial(condition: str) -> dict[str, Any]:
    """The keyword arguments making an index partial on both databases."""
    return {"postgresql_where": text(condition), "sqlite_where": text(condition)}


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
    __table_args__ = (
        # Partial indexes hold only the rows they serve, so most updates add no entry to them.
        # The claim: due queued rows, account mail first (and the count of rows not yet due).
        Index("ix_outbox_due", "priority", "next_attempt_at", "id", **partial("status = 'queued'")),
        # Rows being sent (few): recovering expired claims. Not on claimed_until, so a renewal is HOT.
        Index("ix_outbox_sending", "claimed_by", **partial("status = 'sending'")),
        # The oldest message not yet delivered.
        Index("ix_outbox_waiting", "created_at", **partial("status IN ('queued', 'sending')")),
        Index("ix_outbox_sent_at", "sent_at", **partial("sent_at IS NOT NULL")),
        Index("ix_outbox_failed_at", "failed_at", **partial("failed_at IS NOT NULL")),
        # What the retention purge walks: rows not yet purged, oldest first.
        Index("ix_outbox_retention", "purged_at", "sent_at"),
        # Rewritten twice per copy: leave room on each page for the new versions, and vacuum
        # after a small share of the table has changed rather than the default fifth.
        {"postgresql_with": STORAGE},
    )

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
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
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

    def but(self, **changes: Any) -> Claimed:
        """A copy with ``changes``: what ``dataclasses.replace`` gives, without running ``__init__``
        again (a worker copies each claimed row once or twice; replace cost more than filling it)."""
        unknown = changes.keys() - self.__dict__.keys()
        if unknown:
            raise TypeError(f"Claimed has no field {', '.join(sorted(unknown))}")
        copied = object.__new__(Claimed)
        copied.__dict__.update(self.__dict__, **changes)
        return copied


COLUMNS = [OutboxMessage.__table__.c[name] for name in Claimed.__dataclass_fields__]


class OutboxTally(MailBase):
    """Changes to the number of outbox rows per kind, status, announcement and builder, written by triggers
    in the transactions that change the rows (m0003); their sums are the figures operators read.

    Triggers only append (no two transactions wait for the same counter row); the worker now and
    then folds the appended rows into one per group (``engine.tally``).
    """

    __tablename__ = "outbox_tally"
    __table__: ClassVar[Table]

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    announcement_id: Mapped[int | None] = mapped_column(BigId)
    # A deferred row not built yet: the name of its builder (None once built, or for stored mail).
    builder: Mapped[str | None] = mapped_column(String(64))
    delta: Mapped[int] = mapped_column(BigInteger)
