"""Accounts."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from mailroom.db import BigId
from mailroom.extensions import db

USERNAME_MAX = 64
EMAIL_MAX = 254


def new_unsubscribe_token() -> str:
    """An opaque, unguessable handle for one-click unsubscribe links."""
    return secrets.token_urlsafe(24)


class User(UserMixin, db.Model):  # type: ignore[name-defined]
    """A person with an account; identity is case-insensitive for both username and email."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX))
    username_key: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    email_key: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    email_confirmed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime | None]
    # Bumped to sign out every session and remember-me cookie of this user.
    session_version: Mapped[int] = mapped_column(default=1)
    is_admin: Mapped[bool] = mapped_column(default=False)
    subscribed: Mapped[bool] = mapped_column(default=True)
    unsubscribe_token: Mapped[str] = mapped_column(
        String(64), unique=True, default=new_unsubscribe_token
    )

    def get_id(self) -> str:
        """Session identity: the id and the session version, so a bump revokes old sessions."""
        return f"{self.id}:{self.session_version}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r}>"
