"""Password reset by emailed link: ask for a link, then set a new password with it."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from flask import current_app
from flask_mail import Message
from flask_mailroom import Mail, Skip, deliverability
from flask_mailroom.compose import LAYOUT_RECIPIENT, Copy, Envelope, compose, slot, stream_headers
from flask_mailroom.queue import TRANSACTIONAL
from sqlalchemy import Row, bindparam, delete, select

from mailroom.domain import tokens
from mailroom.domain.addresses import email_key
from mailroom.domain.errors import N_, TokenError, TokenExpired, TokenInvalid
from mailroom.extensions import db, mail
from mailroom.models import ResetHandoff, User
from mailroom.services import accounts, budget, ratelimit, throttle
from mailroom.state import now
from mailroom.urls import external_url

PURPOSE = "reset_password"
LINK_TEMPLATE = "reset_password"
# The notice after a reset is the one every password change sends (services.accounts).
NOTICE_TEMPLATE = accounts.CHANGED_TEMPLATE
# What the browser's session holds for a link that had expired when it was opened (a handle is
# 43 URL-safe characters, "" stands for a link that is not genuine).
EXPIRED_LINK = "expired"
MAX_HANDLE_LENGTH = 64


class TooManyAttempts(Exception):
    """This client has posted too many new passwords lately."""


def ttl_seconds() -> int:
    """How long a reset link works (RESET_TOKEN_TTL)."""
    return int(current_app.config["RESET_TOKEN_TTL"])


def _secret() -> bytes:
    """The application secret, as the token functions take it."""
    return str(current_app.config["SECRET_KEY"]).encode("utf-8")


class Bound(Protocol):
    """What a link is issued for: an account's id and the state it is bound to."""

    id: int
    password_hash: str
    email_key: str


# What a reset email needs of the account, read in one statement without loading the account:
# the worker builds one for every request, for an address that may have no account.
LINK_TARGET = (select(User.id, User.username, User.email, User.email_key, User.password_hash,
                      User.language)
               .where(User.email_key == bindparam("key")))


def bound_state(user: Bound) -> str:
    """What a link is bound to: the password hash, and the address the link was sent to."""
    return f"{user.password_hash}\n{user.email_key}"


def issue_link_token(user: Bound) -> str:
    """A reset token for the user's current password state, valid for RESET_TOKEN_TTL."""
    return tokens.issue(subject=user.id, purpose=PURPOSE, state=bound_state(user), secret=_secret(),
                        now=now(), ttl_seconds=ttl_seconds())


def _within_limit(setting: str, namespace: str, key: str) -> bool:
    """Count one hit against the limit configured under ``setting``; False when it is used up."""
    return ratelimit.hit(ratelimit.limit(current_app.config[setting]), namespace, key)


def _request_allowed(address: str, client: str) -> bool:
    """Per client first, so a client already limited cannot use up an address's quota."""
    return (_within_limit("RATELIMIT_RESET_PER_CLIENT", "reset-request-client", client)
            and _within_limit("RATELIMIT_RESET_PER_ADDRESS", "reset-request-address",
                              email_key(address)))


def build_link_email(address: str, params: Mapping[str, Any]) -> Copy | Skip:
    """In the worker: the reset email for the account with this address, if any and budget allows,
    filled from its layout (``link_layout``) with the person's name and link.

    Runs after the request has answered, so the request does the same work for every address
    and its reply time cannot tell whether the address has an account.
    """
    # Every request spends from the address's budget, account or not, so a pause shown after a
    # request (``paused_until``) is one that a stranger's own requests could have caused as well.
    if not budget.spend(address):
        return Skip("the address's hourly email budget is spent")
    user = _link_target(address)
    if user is None:
        return Skip("no account has this address")
    link = external_url("reset.reset_password_link", token=issue_link_token(user))
    return Copy(layout=user.language or "", to=(user.username, user.email),
                values={"name": user.username, "link": link})


def _link_target(address: str) -> Row[int, str, str, str, str, str] | None:
    """The account a reset email to ``address`` goes to, read in autocommit: one round trip, and
    no transaction left for the worker to end before it sends."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return connection.execute(LINK_TARGET, {"key": email_key(address)}).first()


def link_layout(language: str) -> Message:
    """The reset email in ``language`` (empty: the default) with slots for the name and the link,
    rendered once per worker process (the templates show no time: no zone in the key)."""
    envelope = Envelope(recipients=[LAYOUT_RECIPIENT],
                        extra_headers=stream_headers(TRANSACTIONAL, LINK_TEMPLATE))
    return compose(LINK_TEMPLATE, envelope, locale=language or None, name=slot("name"), link=slot("link"),
                   lifetime=ttl_seconds(), request_link=external_url("reset.reset_password_request"))


def register_builders(extension: Mail) -> None:
    """Let the worker fill reset emails from their layouts, each filled once and stored (its
    token is new at every build), so a retry resends the same link."""
    extension.register_prepared(LINK_TEMPLATE, build_link_email, link_layout, each_attempt=False)


def request_reset(address: str, client: str) -> str:
    """Queue a reset email for the address, unless a rate limit is used up; the address as mail
    goes to it.

    The request neither looks the address up nor signs anything: the worker builds the email
    when an account has the address (``build_link_email``) and skips the row otherwise.
    """
    address = accounts.normalize_address(address)
    if not _request_allowed(address, client):
        deliverability.record_skip(address, N_("rate limited"), N_("reset request"))
        db.session.commit()
        return address
    mail.defer(LINK_TEMPLATE, address, session=db.session,
               expires_at=now() + timedelta(seconds=ttl_seconds()))
    db.session.commit()
    return address


def paused_until(address: str) -> datetime | None:
    """When reset links to ``address`` can go again, if its requests or its email budget are used up.

    Both count every request alike, account or not (``build_link_email`` spends before it looks
    the address up), so the answer says nothing about whether an account has the address.
    """
    window = ratelimit.window(ratelimit.limit(current_app.config["RATELIMIT_RESET_PER_ADDRESS"]),
                              "reset-request-address", email_key(address))
    requests = (datetime.fromtimestamp(window.reset_time, UTC)
                if window is not None and window.remaining < 1 else None)
    moments = [m for m in (requests, budget.paused_until(address)) if m is not None]
    return _next_minute(max(moments)) if moments else None


def _next_minute(moment: datetime) -> datetime:
    """The moment rounded up to a whole minute, as pages tell it (and no finer than a person needs)."""
    whole = moment.replace(second=0, microsecond=0)
    return whole if whole == moment else whole + timedelta(minutes=1)


def _read(token: str) -> tokens.TokenClaims:
    """The claims of a genuine, unexpired reset token (no database access)."""
    return tokens.read(token, purpose=PURPOSE, secret=_secret(), now=now())


def _bound_user(claims: tokens.TokenClaims, *, for_update: bool) -> User:
    """The user the token names, when the token was issued for their current state."""
    query = select(User).where(User.id == claims.subject)
    user: User | None = db.session.scalar(query.with_for_update() if for_update else query)
    if user is None:
        raise TokenInvalid("no such user")
    tokens.check_binding(claims, state=bound_state(user), secret=_secret())
    return user


def check_link(token: str) -> str:
    """The address of the account whose password the link can still set (for password managers);
    else raise TokenExpired or TokenInvalid (changes nothing)."""
    claims = _read(token)
    try:
        return _bound_user(claims, for_update=False).email
    finally:
        db.session.rollback()


def reset_password(token: str, password: str, client: str) -> User:
    """Set a new password with a valid link, sign out every session and queue the notice.

    One transaction; the user's row is locked, so one link can never set two passwords.
    Raises TooManyAttempts, TokenExpired or TokenInvalid.
    """
    if not _within_limit("RATELIMIT_RESET_PER_CLIENT", "reset-password-client", client):
        raise TooManyAttempts()
    return _set_password_with(token, password)


def _handle_hash(handle: str) -> str:
    """What the table keeps of a handoff's handle: its SHA-256 (the handle is 256 random bits)."""
    return hashlib.sha256(handle.encode("utf-8", "surrogatepass")).hexdigest()


def hand_off(token: str, client: str) -> str:
    """Keep a genuine, unexpired link's token on the server under a new random handle; the handle.

    The browser's session holds only what this returns: the handle, EXPIRED_LINK for a link that
    had expired, or "" for one that is not genuine (nothing is stored for those two). Nothing of
    the account is read or changed. Raises TooManyAttempts when this client opened too many links.
    """
    try:
        claims = _read(token)
    except TokenExpired:
        return EXPIRED_LINK
    except TokenInvalid:
        return ""
    if not _within_limit("RATELIMIT_RESET_PER_CLIENT", "reset-link-client", client):
        raise TooManyAttempts()
    handle = secrets.token_urlsafe(32)
    db.session.add(ResetHandoff(handle_hash=_handle_hash(handle), token=token, expires_at=claims.expires_at))
    db.session.commit()
    return handle


def _handoff(handle: str) -> ResetHandoff:
    """The live handoff under ``handle``; TokenExpired when it has lapsed, TokenInvalid without one."""
    if handle == EXPIRED_LINK:
        raise TokenExpired("the link had expired when it was opened")
    if not handle or len(handle) > MAX_HANDLE_LENGTH:
        raise TokenInvalid("no genuine reset link was opened in this browser")
    row: ResetHandoff | None = db.session.get(ResetHandoff, _handle_hash(handle))
    # A handle the session still holds whose row is gone was swept after it lapsed (a used one
    # leaves the session with the password change).
    if row is None or now() >= row.expires_at:
        raise TokenExpired("the reset link's handoff has lapsed")
    return row


def handed_off_token(handle: str) -> str:
    """The token kept under ``handle`` (reads only); TokenExpired or TokenInvalid as ``_handoff``."""
    try:
        return _handoff(handle).token
    finally:
        db.session.rollback()


def reset_password_handed_off(handle: str, password: str, client: str) -> User:
    """``reset_password`` with the token kept under ``handle``, whose handoff ends with the change."""
    if not _within_limit("RATELIMIT_RESET_PER_CLIENT", "reset-password-client", client):
        raise TooManyAttempts()
    try:
        handoff = _handoff(handle)
    except TokenError:
        db.session.rollback()
        raise
    return _set_password_with(handoff.token, password, handoff)


def sweep_handoffs() -> int:
    """Delete every handoff past its expiry; how many (caller commits)."""
    result = db.session.execute(delete(ResetHandoff).where(ResetHandoff.expires_at <= now()))
    return int(getattr(result, "rowcount", 0) or 0)


def _set_password_with(token: str, password: str, handoff: ResetHandoff | None = None) -> User:
    """Set the password the token allows, sign out every session, queue the notice (and end the
    handoff) in one transaction; TokenExpired or TokenInvalid."""
    try:
        user = _bound_user(_read(token), for_update=True)
    except TokenError:
        db.session.rollback()
        raise
    accounts.set_password(user, password)
    accounts.revoke_sessions(user)
    accounts.queue_password_notice(user)
    if handoff is not None:
        db.session.delete(handoff)
    identifiers = (user.username, user.email)
    db.session.commit()
    # The owner proved they read the address: sign-in with the new password is not paused.
    throttle.forget_accounts(*identifiers)
    return user
