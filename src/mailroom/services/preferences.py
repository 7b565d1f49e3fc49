"""A person's email preferences: whether announcements reach them (account emails always do)."""

from __future__ import annotations

from mailroom.extensions import db
from mailroom.models import User


def set_announcements(user: User, wanted: bool) -> None:
    """Subscribe the user to announcements, or unsubscribe them."""
    user.subscribed = wanted
    db.session.commit()
