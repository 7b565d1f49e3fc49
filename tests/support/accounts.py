"""Reading accounts back in tests, as another transaction sees them."""

from __future__ import annotations

from flask import Flask

from mailroom.extensions import db
from mailroom.models import User


def stored_user(app: Flask, user_id: int) -> User:
    """The account as stored now, detached from any session."""
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        db.session.expunge(user)
        return user
