"""Accounts: registration, sign-in (throttled), change of password, session revocation."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, select
from werkzeug.wrappers import Response

from mailroom.domain.addresses import email_key, normalize_email, normalize_username, username_key
from mailroom.domain.languages import DEFAULT_LOCALE, DEFAULT_TIMEZONE, known_locale, known_timezone
from mailroom.emails import send_email
from mailroom.extensions import db
from mailroom.i18n import _
from mailroom.models import User
from mailroom.services import budget, devices, sessions, signin_notice, throttle
from mailroom.services.errors import AccountError
from mailroom.services.passwords import burn_verification, hash_password, verify_password
from mailroom.state import now
from mailroom.urls import external_url

log = logging.getLogger(__name__)
ATTEMPTS_TEMPLATE = "signin_attempts"
CHANGED_TEMPLATE = "password_changed"

__all__ = ["AccountError", "InvalidCredentials"]


class InvalidCredentials(AccountError):
    """The identifier and password do not match an account."""

    def __init__(self) -> None:
        super().__init__("password", _("Invalid username, email or password."))


def language_of(user: User) -> dict[str, Any]:
    """The locale and time zone every email to this user is rendered in."""
    return {"locale": user.language, "timezone": user.timezone}


class SignInThrottled(Exception):
    """Too many failed sign-ins from this client or for this account: wait ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"sign-in paused for {retry_after} s")
        self.retry_after = retry_after


def normalize_address(raw: str) -> str:
    """An address in the form it is stored and sent in, under this site's MAIL_SMTPUTF8 setting."""
    return normalize_email(raw, smtputf8=bool(current_app.config["MAIL_SMTPUTF8"]))


# Built once: the worker looks an address up for every reset it builds, and a statement reused
# keeps its cache key, so each look-up skips building the statement and its key again.
BY_EMAIL_KEY = select(User).where(User.email_key == bindparam("key"))


def find_by_email(address: str) -> User | None:
    """The account with this address, in any letter case."""
    return db.session.scalar(BY_EMAIL_KEY, {"key": email_key(address)})


def find_by_username(name: str) -> User | None:
    """The account with this username, in any letter case."""
    return db.session.scalar(select(User).where(User.username_key == username_key(name)))


def find_account(identifier: str) -> User | None:
    """The account an identifier as typed names: by address when it has an @, else by username."""
    text = identifier.strip()
    return find_by_email(text) if "@" in text else find_by_username(text)


def new_user(username: str, email: str, password: str, language: str = DEFAULT_LOCALE,
             timezone: str = DEFAULT_TIMEZONE) -> User:
    """Build (not store) a user with normalised username and address and a hashed password."""
    address = normalize_address(email)
    name = normalize_username(username)
    return User(
        username=name,
        username_key=username_key(name),
        language=known_locale(language) or DEFAULT_LOCALE,
        timezone=known_timezone(timezone) or DEFAULT_TIMEZONE,
        email=address,
        email_key=email_key(address),
        password_hash=hash_password(password),
        created_at=now(),
    )


def authenticate(identifier: str, password: str) -> User:
    """The account matching a username or email and password, else InvalidCredentials."""
    user = find_account(identifier)
    if user is None or user.registration_handle is not None:
        burn_verification(password)
        raise InvalidCredentials()
    if not verify_password(user.password_hash, password):
        raise InvalidCredentials()
    return user


def sign_in(identifier: str, password: str, client: str, user_agent: str, remember: bool,
            response: Response | None = None) -> User:
    """Check the password unless this client or account is paused, and open a session.

    A browser holding the typed account's device cookie is paused only by its own failures. On
    success the owner is told when the browser was new to the account, and the browser is trusted
    (its cookie set on ``response``). Raises SignInThrottled (the same for every account, known or
    not) or InvalidCredentials; a failure is counted, and the owner is emailed once per episode.
    """
    keys = _throttle_keys(identifier, client)
    wait = throttle.wait_seconds(keys)
    if wait:
        log.warning("sign-in refused for %s s: client %s, account key %s, device key %s", wait, client,
                    keys.account, keys.device or "-")
        raise SignInThrottled(wait)
    try:
        user = authenticate(identifier, password)
    except InvalidCredentials:
        _count_failure(identifier, keys)
        raise
    _clear_failures(identifier, keys)
    sessions.open_session(user, user_agent, client, remember)
    signin_notice.notify_new_sign_in(user, user_agent, client)
    if response is not None:
        devices.trust_browser(user, response, user_agent, client)
    db.session.commit()
    return user


def check_password(identifier: str, password: str, client: str) -> User:
    """The throttled password check of ``sign_in`` without opening a session (the new-browser check
    opens it once its emailed code is typed); raises as ``sign_in`` does."""
    keys = _throttle_keys(identifier, client)
    wait = throttle.wait_seconds(keys)
    if wait:
        raise SignInThrottled(wait)
    try:
        user = authenticate(identifier, password)
    except InvalidCredentials:
        _count_failure(identifier, keys)
        raise
    _clear_failures(identifier, keys)
    return user


def _throttle_keys(identifier: str, client: str) -> throttle.Keys:
    """The records an attempt is judged by: with the typed account's device cookie, the device's own."""
    account = find_account(identifier)
    device = devices.this_browser(account) if account is not None else None
    return throttle.keys_for(identifier, client, device.id if device is not None else None)


def _clear_failures(identifier: str, keys: throttle.Keys) -> None:
    """After the right password: a trusted device's record, else the account's, starts afresh.

    A trusted device leaves the account's record alone, so guessers paused there stay paused.
    """
    if keys.device is not None:
        throttle.forget_device(keys)
    else:
        throttle.forget_accounts(identifier)


def _count_failure(identifier: str, keys: throttle.Keys) -> None:
    """Count a failed sign-in; tell the account's owner when the failures turn suspicious."""
    owner = find_account(identifier)
    if throttle.record_failure(keys, account_exists=owner is not None) and owner is not None:
        _tell_owner_of_attempts(owner)
    db.session.commit()


def _tell_owner_of_attempts(user: User) -> None:
    """Queue "someone is trying your password", within the address's budget (caller commits)."""
    if not budget.spend(user.email):
        log.warning("sign-in attempts notice for user %s withheld: budget spent", user.id)
        return
    send_email(ATTEMPTS_TEMPLATE, (user.username, user.email), **language_of(user), name=user.username,
               since=now(), request_link=external_url("reset.reset_password_request"))


def revoke_sessions(user: User, keep_current: bool = False) -> None:
    """Sign out every session and remember-me cookie of the user, or all others (caller commits)."""
    sessions.end_all(user, keep_current=keep_current)


def queue_password_notice(user: User) -> None:
    """Add the 'password changed' email (no token, no password) to the outbox (caller commits)."""
    # Counted against the address's budget but never withheld: it follows a change the owner
    # made (or must hear about), and a security notice must not be lost.
    budget.spend(user.email)
    send_email(CHANGED_TEMPLATE, (user.username, user.email), **language_of(user), name=user.username,
               changed_at=now(), request_link=external_url("reset.reset_password_request"))


def change_password(user: User, current: str, new: str) -> None:
    """Set a new password when ``current`` is right; end the other sessions and send the notice."""
    if not verify_password(user.password_hash, current):
        raise AccountError("current_password", _("That is not your current password."))
    set_password(user, new)
    revoke_sessions(user, keep_current=True)
    queue_password_notice(user)
    db.session.commit()


def set_language(user: User, language: str, timezone: str) -> None:
    """Store the locale and time zone pages and emails use for this person, then commit."""
    user.language = known_locale(language) or user.language
    user.timezone = known_timezone(timezone) or user.timezone
    db.session.commit()


def set_password(user: User, password: str) -> None:
    """Change the password; older reset links die with the old hash, and every browser the account
    trusted becomes a stranger again (caller commits)."""
    user.password_hash = hash_password(password)
    user.password_changed_at = now()
    devices.forget_all(user)
