"""Accounts."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import String, true
from sqlalchemy.orm import Mapped, mapped_column

from mailroom.db import BigId
from mailroom.domain.addresses import USERNAME_MAX
from mailroom.domain.languages import DEFAULT_LOCALE, DEFAULT_TIMEZONE, TIMEZONE_MAX
from mailroom.extensions import db

__all__ = ["EMAIL_MAX", "USERNAME_MAX", "User", "new_unsubscribe_token"]

EMAIL_MAX = 254
LANGUAGE_MAX = 16


def new_unsubscribe_token() -> str:
    """An opaque, unguessable handle for one-click unsubscribe links."""
    return secrets.token_urlsafe(24)


class User(UserMixin, db.Model):  # type: ignore[name-defined]
    """A person with an account; identity is case-insensitive for both username and email."""

    __tablename__ = "users"
    # ``session_id`` below is a plain attribute, not a column.
    __allow_unmapped__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX))
    username_key: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    email_key: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    email_confirmed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime | None]
    # Set while a registration waits for its emailed code: the SHA-256 of the handle kept by the
    # browser that registered. Such an account cannot sign in; a new registration replaces it.
    registration_handle: Mapped[str | None] = mapped_column(String(64), index=True)
    is_admin: Mapped[bool] = mapped_column(default=False)
    subscribed: Mapped[bool] = mapped_column(default=True)
    unsubscribe_token: Mapped[str] = mapped_column(
        String(64), unique=True, default=new_unsubscribe_token
    )
    # The locale pages and every email to this person use (en, zh_Hans, zh_Hant).
    language: Mapped[str] = mapped_column(String(LANGUAGE_MAX), default=DEFAULT_LOCALE,
                                          server_default=DEFAULT_LOCALE)
    # The IANA zone times are shown in (Asia/Taipei), taken from the browser at registration.
    timezone: Mapped[str] = mapped_column(String(TIMEZONE_MAX), default=DEFAULT_TIMEZONE,
                                          server_default=DEFAULT_TIMEZONE)

    # Sign-in settings: an emailed sign-in code may be used instead of the password; a browser
    # the account does not trust must type an emailed code after the password (None: on for
    # admins, off for others); the owner is emailed when a new browser signs in.
    signin_codes: Mapped[bool] = mapped_column(default=True, server_default=true())
    new_browser_check: Mapped[bool | None] = mapped_column(default=None)
    signin_notices: Mapped[bool] = mapped_column(default=True, server_default=true())

    # The id of the server-side session this object was loaded through or signed in with
    # (never stored on the row): Flask-Login keeps it in the cookie.
    session_id: str | None = None

    def get_id(self) -> str:
        """Session identity for Flask-Login: the server-side session's id, never the user's."""
        if not self.session_id:
            raise RuntimeError("sign in through services.sessions, which opens a session")
        return self.session_id

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r}>"
