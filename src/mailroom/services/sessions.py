"""Server-side sessions: one row per sign-in, found from the cookie's id, listed and ended by the owner.

The database keeps them (not Redis): ending them must commit together with the change that ends
them (a password change, a reset, a revert), the account page lists them per user, and the user
loader reads the database on every request anyway.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, delete, or_, select

from mailroom.extensions import db
from mailroom.models import User, UserSession
from mailroom.models.session import CLIENT_MAX, USER_AGENT_MAX
from mailroom.services import devices
from mailroom.state import now

# last_seen_at is written at most this often per session, not on every request.
TOUCH_EVERY = timedelta(seconds=60)
MAX_TOKEN_LENGTH = 128


def digest(token: str) -> str:
    """What the table keeps of a session id: its SHA-256 (the id itself is 256 random bits)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def open_session(user: User, user_agent: str, client: str, remember: bool) -> str:
    """Add a session for a sign-in and give ``user`` its id (caller commits)."""
    token = secrets.token_urlsafe(32)
    moment = now()
    db.session.add(UserSession(user_id=user.id, token_hash=digest(token), created_at=moment,
                               last_seen_at=moment, user_agent=user_agent[:USER_AGENT_MAX],
                               client_address=client[:CLIENT_MAX], remember=remember))
    user.session_id = token
    return token


def idle_limit_for(remember: bool) -> timedelta:
    """How long a session lives unused: the remember-me duration, else SESSION_IDLE_TIMEOUT."""
    config = current_app.config
    if remember:
        duration = config["REMEMBER_COOKIE_DURATION"]
        return duration if isinstance(duration, timedelta) else timedelta(seconds=int(duration))
    return timedelta(seconds=int(config["SESSION_IDLE_TIMEOUT"]))


def idle_limit(record: UserSession) -> timedelta:
    """How long this session lives unused."""
    return idle_limit_for(record.remember)


def is_alive(record: UserSession) -> bool:
    """Whether the session was used recently enough to still count."""
    return now() - record.last_seen_at < idle_limit(record)


def _find(token: str) -> UserSession | None:
    """The session with this id, if the id is plausible and the row exists."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return db.session.scalar(select(UserSession).where(UserSession.token_hash == digest(token)))


def resume(token: str) -> User | None:
    """The user of a live session (its last use noted), or None when it ended or never was."""
    record = _find(token)
    if record is None:
        return None
    if not is_alive(record):
        db.session.delete(record)
        db.session.commit()
        return None
    user = db.session.get(User, record.user_id)
    if user is None or user.registration_handle:
        return None
    if now() - record.last_seen_at >= TOUCH_EVERY:
        record.last_seen_at = now()
        db.session.commit()
    user.session_id = token
    return user


def sweep_expired() -> int:
    """Delete every session that has stopped counting (``is_alive`` false); how many (caller commits)."""
    moment = now()
    lapsed = [and_(UserSession.remember.is_(remember),
                   UserSession.last_seen_at <= moment - idle_limit_for(remember))
              for remember in (True, False)]
    result = db.session.execute(delete(UserSession).where(or_(*lapsed)))
    return int(getattr(result, "rowcount", 0) or 0)


def active(user: User) -> list[UserSession]:
    """The user's live sessions, the most recently used first."""
    rows = db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)
                              .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc()))
    return [row for row in rows if is_alive(row)]


def is_current(user: User, record: UserSession) -> bool:
    """Whether ``record`` is the session ``user`` was loaded through."""
    return bool(user.session_id) and record.token_hash == digest(user.session_id or "")


def end(user: User, session_pk: int) -> bool:
    """End one of the user's sessions by its number; False when there is no such session."""
    result = db.session.execute(delete(UserSession).where(
        UserSession.id == session_pk, UserSession.user_id == user.id))
    db.session.commit()
    return bool(getattr(result, "rowcount", 0))


def end_current(user: User) -> None:
    """End the session ``user`` was loaded through (sign-out)."""
    if user.session_id:
        db.session.execute(delete(UserSession).where(
            UserSession.token_hash == digest(user.session_id)))
        db.session.commit()
    user.session_id = None


def end_all(user: User, keep_current: bool = False) -> None:
    """End every session of the user, or every other one (caller commits)."""
    query = delete(UserSession).where(UserSession.user_id == user.id)
    if keep_current and user.session_id:
        query = query.where(UserSession.token_hash != digest(user.session_id))
    db.session.execute(query)


def end_others(user: User) -> None:
    """Sign out every other browser of the user, keeping this one, and forget every trusted browser."""
    end_all(user, keep_current=True)
    devices.forget_all(user)
    db.session.commit()
