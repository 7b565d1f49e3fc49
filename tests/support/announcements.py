"""Helpers for the announcement tests: many users at once, and reading what the outbox holds."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from flask import Flask
from flask_mailroom.compose import deferred
from flask_mailroom.models.outbox import Claimed
from sqlalchemy import insert, select

from mailroom.extensions import db
from mailroom.models import OutboxMessage, User
from mailroom.models.user import new_unsubscribe_token
from mailroom.services.passwords import hash_password
from mailroom.state import now


def add_users(app: Flask, count: int, prefix: str = "user", *, confirmed: bool = True,
              subscribed: bool = True) -> list[int]:
    """Insert ``count`` users in one statement (one password hash shared by all); return their ids."""
    with app.app_context():
        password_hash = hash_password("correct horse battery")
        rows = [{"username": f"{prefix}{i}", "username_key": f"{prefix}{i}",
                 "email": f"{prefix}{i}@example.com", "email_key": f"{prefix}{i}@example.com",
                 "password_hash": password_hash, "email_confirmed": confirmed, "created_at": now(),
                 "is_admin": False, "subscribed": subscribed,
                 "unsubscribe_token": new_unsubscribe_token()} for i in range(count)]
        db.session.execute(insert(User), rows)
        db.session.commit()
        ids = db.session.scalars(select(User.id).where(User.username_key.startswith(prefix))
                                 .order_by(User.id))
        return list(ids)


def outbox(app: Flask) -> list[OutboxMessage]:
    """Every outbox row, detached, in id order."""
    with app.app_context():
        rows = list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        db.session.expunge_all()
        return rows


def claimed(row: OutboxMessage) -> Claimed:
    """What a worker holds of ``row`` once it has claimed it."""
    return Claimed(*(getattr(row, name) for name in Claimed.__dataclass_fields__))


def bytes_sent(app: Flask, row: OutboxMessage) -> bytes:
    """The bytes the worker sends for ``row``: stored, or (an announcement copy) rendered now."""
    if row.raw:
        return bytes(row.raw)
    with app.app_context():
        built = deferred.materialize(claimed(row), "tests")
        assert built is not None
        return built.raw


def rendered(app: Flask, row: OutboxMessage) -> EmailMessage:
    """The message the worker sends for ``row``, parsed."""
    message = message_from_bytes(bytes_sent(app, row), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def user_named(app: Flask, username: str) -> User:
    """A user by username, detached."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username_key == username))
        assert user is not None
        db.session.expunge(user)
        return user
