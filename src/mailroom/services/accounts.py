"""Accounts: registration, sign-in, session revocation."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mailroom.domain.addresses import email_key, normalize_email, username_key
from mailroom.extensions import db
from mailroom.models import User
from mailroom.services.passwords import burn_verification, hash_password, verify_password
from mailroom.state import now


class AccountError(Exception):
    """A use case on accounts was refused; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class InvalidCredentials(AccountError):
    """The identifier and password do not match an account."""

    def __init__(self) -> None:
        super().__init__("password", "Invalid username, email or password.")


def find_by_email(address: str) -> User | None:
    """The account with this address, in any letter case."""
    return db.session.scalar(select(User).where(User.email_key == email_key(address)))


def find_by_username(name: str) -> User | None:
    """The account with this username, in any letter case."""
    return db.session.scalar(select(User).where(User.username_key == username_key(name)))


def check_available(username: str | None, email: str | None) -> None:
    """Raise AccountError on the first field whose value another account already holds."""
    if username is not None and find_by_username(username) is not None:
        raise AccountError("username", "That username is taken.")
    if email is not None and find_by_email(email) is not None:
        raise AccountError("email", "An account with that email address already exists.")


def new_user(username: str, email: str, password: str) -> User:
    """Build (not store) a user with a normalised address and a hashed password."""
    address = normalize_email(email)
    return User(
        username=username.strip(),
        username_key=username_key(username),
        email=address,
        email_key=email_key(address),
        password_hash=hash_password(password),
        created_at=now(),
    )


def register(username: str, email: str, password: str) -> User:
    """Create an account; on a taken username or address raise AccountError naming it."""
    check_available(username, email)
    user = new_user(username, email, password)
    db.session.add(user)
    after_registration(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        check_available(username, email)
        raise
    return user


def after_registration(user: User) -> None:
    """Queue the address confirmation code in the registration transaction."""
    from mailroom.services import confirmation  # imports this module

    db.session.flush()
    confirmation.queue_on_registration(user)


def authenticate(identifier: str, password: str) -> User:
    """The account matching a username or email and password, else InvalidCredentials."""
    text = identifier.strip()
    user = find_by_email(text) if "@" in text else find_by_username(text)
    if user is None:
        burn_verification(password)
        raise InvalidCredentials()
    if not verify_password(user.password_hash, password):
        raise InvalidCredentials()
    return user


def revoke_sessions(user: User) -> None:
    """Sign out every session and remember-me cookie of the user (caller commits)."""
    user.session_version = (user.session_version or 0) + 1


def set_password(user: User, password: str) -> None:
    """Change the password; older reset links die with the old hash (caller commits)."""
    user.password_hash = hash_password(password)
    user.password_changed_at = now()
