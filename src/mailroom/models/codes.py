"""Verification codes in the database: the embedded twin of the Redis store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from mailroom.db import BigId
from mailroom.extensions import db


class VerificationCode(db.Model):  # type: ignore[name-defined]
    """The live code of one purpose for one user: only its keyed hash is kept."""

    __tablename__ = "verification_codes"

    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    code_hash: Mapped[str | None] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(254))
    expires_at: Mapped[datetime | None]
    resend_at: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(default=0)
    failures_expire_at: Mapped[datetime | None]
