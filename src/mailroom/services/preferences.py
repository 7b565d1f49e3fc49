"""A person's email preferences: whether announcements reach them (account emails always do), and
whether a sign-in from a new browser is told by email."""

from __future__ import annotations

from mailroom.extensions import db
from mailroom.models import User


def set_announcements(user: User, wanted: bool) -> None:
    """Subscribe the user to announcements, or unsubscribe them."""
    user.subscribed = wanted
    db.session.commit()


def set_email_preferences(user: User, announcements: bool, signin_notices: bool | None) -> None:
    """Save the preferences card: announcements, and the sign-in notices when the form showed them."""
    user.subscribed = announcements
    if signin_notices is not None:
        user.signin_notices = signin_notices
    db.session.commit()
