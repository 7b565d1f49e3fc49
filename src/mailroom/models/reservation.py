"""Addresses given up by a change of address, kept for their owner while the change can be undone."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from mailroom.db import BigId
from mailroom.extensions import db


class AddressReservation(db.Model):  # type: ignore[name-defined]
    """Nobody but ``user_id`` may take ``email_key`` before ``until``."""

    __tablename__ = "address_reservations"

    email_key: Mapped[str] = mapped_column(String(254), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    until: Mapped[datetime]
