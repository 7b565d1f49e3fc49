"""Who receives announcements: confirmed, subscribed users, and the unsubscribe link that stops them."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select

from mailroom.domain.errors import TokenInvalid
from mailroom.extensions import db
from mailroom.models import User

# What new_unsubscribe_token makes (URL-safe base64), bounded by the column's width.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Recipient:
    """What personalising one copy needs to know about its reader."""

    id: int
    username: str
    email: str
    unsubscribe_token: str
    language: str | None = None
    timezone: str | None = None


def as_recipient(user: User) -> Recipient:
    """The personalisation fields of a user."""
    return Recipient(user.id, user.username, user.email, user.unsubscribe_token, user.language,
                     user.timezone)


def eligible() -> ColumnElement[bool]:
    """Who receives announcements: confirmed addresses that did not unsubscribe."""
    return User.email_confirmed.is_(True) & User.subscribed.is_(True)


def count_recipients() -> int:
    """How many users an announcement sent now would reach."""
    return int(db.session.scalar(select(func.count()).select_from(User).where(eligible())) or 0)


def still_subscribed(user_id: int) -> bool:
    """Whether the user still exists and still wants announcements."""
    return bool(db.session.scalar(select(User.subscribed).where(User.id == user_id)))


def _subscriber(token: str) -> User:
    """The user an unsubscribe token belongs to, or TokenInvalid."""
    if not TOKEN_SHAPE.fullmatch(token):
        raise TokenInvalid("unknown unsubscribe link")
    user: User | None = db.session.scalar(select(User).where(User.unsubscribe_token == token))
    # The lookup is by index; the constant-time comparison guards against case-folding collations.
    if user is None or not hmac.compare_digest(user.unsubscribe_token.encode(), token.encode()):
        raise TokenInvalid("unknown unsubscribe link")
    return user


def check_token(token: str) -> None:
    """Raise TokenInvalid unless the unsubscribe token belongs to someone; changes nothing."""
    _subscriber(token)
    db.session.commit()


def set_subscribed(token: str, subscribed: bool) -> None:
    """Stop (or resume) announcements for the owner of the token; account email is unaffected."""
    user = _subscriber(token)
    user.subscribed = subscribed
    db.session.commit()
