"""Browsers an account trusts: each holds a device cookie whose secret's hash is kept here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from mailroom.db import BigId
from mailroom.extensions import db
from mailroom.models.session import CLIENT_MAX, USER_AGENT_MAX


class TrustedDevice(db.Model):  # type: ignore[name-defined]
    """One browser that signed in to one account; deleting the row makes it a stranger again."""

    __tablename__ = "trusted_devices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the cookie's secret: a copy of this table cannot be replayed as cookies.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime]
    user_agent: Mapped[str] = mapped_column(String(USER_AGENT_MAX), default="")
    client_address: Mapped[str] = mapped_column(String(CLIENT_MAX), default="")

    def __repr__(self) -> str:
        return f"<TrustedDevice {self.id} of user {self.user_id}>"


class ResetHandoff(db.Model):  # type: ignore[name-defined]
    """A reset link's token between its first GET and the new password, kept on the server: the
    browser's session holds only a random handle whose hash keys this row."""

    __tablename__ = "reset_handoffs"

    handle_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(String(1024))
    expires_at: Mapped[datetime] = mapped_column(index=True)
