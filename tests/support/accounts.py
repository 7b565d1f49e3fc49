"""Reading accounts back in tests, as another transaction sees them."""

from __future__ import annotations

from flask import Flask

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services.accounts import find_by_email


def stored_user(app: Flask, user_id: int) -> User:
    """The account as stored now, detached from any session."""
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        db.session.expunge(user)
        return user


def without_browser_check(app: Flask, email: str) -> None:
    """Turn off the account's new-browser check (an admin's is on by default), for tests that sign an
    admin in by password in a fresh client; tests/functional/test_signin_code.py tests the check."""
    with app.app_context():
        user = find_by_email(email)
        assert user is not None
        user.new_browser_check = False
        db.session.commit()


def without_signin_notices(app: Flask, email: str = "alice@example.com") -> None:
    """Turn off the account's new-sign-in notices, for tests about another email whose first step is
    a sign-in from a new browser; tests/functional/test_signin_devices.py tests the notices."""
    with app.app_context():
        user = find_by_email(email)
        assert user is not None
        user.signin_notices = False
        db.session.commit()
