"""Per-address delivery state: suppressions, and the events (bounces, complaints) behind them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flask_mailroom.models.base import BigId, MailBase

# Scopes of a suppression: every message, or bulk mail only (after a complaint).
SCOPE_ALL = "all"
SCOPE_BULK = "bulk"


class Suppression(MailBase):
    """An address we do not mail (all mail, or bulk only), since when and why."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    address_key: Mapped[str] = mapped_column(String(320), unique=True)
    address: Mapped[str] = mapped_column(String(320))
    scope: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class MailEvent(MailBase):
    """Something that happened to mail for an address beyond the outbox row: a bounce, a
    complaint, a request refused before anything was queued, a suppression lifted."""

    __tablename__ = "mail_events"
    __table_args__ = (Index("ix_mail_events_address", "address_key", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    address_key: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(24))
    source: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    outbox_id: Mapped[int | None] = mapped_column(BigId, index=True)
    occurred_at: Mapped[datetime]


class InboundEvent(MailBase):
    """A provider's webhook event, stored as received and processed after the reply."""

    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None] = mapped_column(index=True)
