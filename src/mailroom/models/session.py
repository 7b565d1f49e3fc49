"""Server-side sign-in sessions: the cookie carries only a random id, the row says it is alive."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from mailroom.db import BigId
from mailroom.extensions import db

USER_AGENT_MAX = 255
CLIENT_MAX = 64


class UserSession(db.Model):  # type: ignore[name-defined]
    """One sign-in of one browser; deleting the row signs that browser out for good."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # SHA-256 of the cookie's id: a copy of this table cannot be replayed as cookies.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    user_agent: Mapped[str] = mapped_column(String(USER_AGENT_MAX), default="")
    client_address: Mapped[str] = mapped_column(String(CLIENT_MAX), default="")
    remember: Mapped[bool] = mapped_column(default=False)

    def __repr__(self) -> str:
        return f"<UserSession {self.id} of user {self.user_id}>"
