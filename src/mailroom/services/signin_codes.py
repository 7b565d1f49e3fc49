"""Codes that start a session: sign-in by an emailed code, and the new-browser check (the code a
browser the account does not trust types after the right password).

Both are the verification codes of ``services.codes`` under rules of their own (SIGNIN_CODE_TTL,
SIGNIN_CODE_MAX_ATTEMPTS), and each is bound to the browser that asked: the browser keeps a random
handle in its session, and only a keyed hash of that handle names the code's record, so the right
code typed in another browser finds nothing. A request for a sign-in code only queues an intent
(``mail.defer``): the worker looks the address up and makes the code (``build_code_email``), so the
reply, and the request's work, are the same whether or not an account has the address.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from flask_mail import Message
from flask_mailroom import Skip, deliverability
from flask_mailroom.compose import Envelope, compose
from limits import RateLimitItemPerSecond
from sqlalchemy import delete, or_
from werkzeug.wrappers import Response

from mailroom.domain.addresses import email_key
from mailroom.domain.browsers import browser_name, system_name
from mailroom.domain.codes import CodePolicy, derive_key, normalize_code
from mailroom.domain.errors import N_, CodeError, CodeExhausted, CodeExpired, CodeMismatch, CooldownActive
from mailroom.emails import send_email
from mailroom.extensions import db, mail
from mailroom.models import User, VerificationCode
from mailroom.services import accounts, budget, codes, devices, ratelimit, sessions, signin_notice
from mailroom.state import now
from mailroom.urls import external_url

CODE_TEMPLATE = "signin_code"
CHECK_TEMPLATE = "new_browser_code"
# The two purposes; the code store's purpose is "<purpose>:<start of the browser's binding>".
SIGN_IN = "signin"
NEW_BROWSER = "browser"
BINDING_LABEL = "mailroom sign-in code binding v1"
BINDING_KEPT = 24  # hex digits of the binding in the store's key (96 bits; the key holds 32 characters)
BINDING = re.compile(r"[0-9a-f]{64}")
# Wrong codes typed where no code can be (no account, or none that signs in by code) count here.
UNBACKED_NAMESPACE = "signin-code"


@dataclass(frozen=True)
class CodeRequest:
    """What the browser that asked for a sign-in code keeps: its handle, the address, when (epoch s)."""

    handle: str
    email: str
    asked_at: int


@dataclass(frozen=True)
class BrowserCheck:
    """What a browser that gave the right password keeps while its emailed code is on the way."""

    handle: str
    user_id: int
    email: str
    remember: bool
    asked_at: int


@dataclass(frozen=True)
class Opening:
    """The session a redeemed code opens: this browser's header and address, remember-me, and the
    response that carries its device cookie."""

    user_agent: str
    client: str
    remember: bool
    response: Response


# --- the rules -----------------------------------------------------------------------------------


def policy() -> CodePolicy:
    """The configured lifetime and tries of sign-in codes (a new one after EMAIL_CODE_RESEND_COOLDOWN)."""
    config = current_app.config
    return CodePolicy.from_settings(config["SIGNIN_CODE_TTL"], config["SIGNIN_CODE_MAX_ATTEMPTS"],
                                    config["EMAIL_CODE_RESEND_COOLDOWN"])


def binding(handle: str) -> str:
    """The keyed hash of a browser's handle: all the server keeps or queues of it."""
    key = derive_key(current_app.config["SECRET_KEY"], BINDING_LABEL)
    return hmac.new(key, handle.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def _store_purpose(purpose: str, bound_to: str) -> str:
    """The code store's purpose for one browser's code."""
    return f"{purpose}:{bound_to[:BINDING_KEPT]}"


def _epoch() -> int:
    """Now, in whole seconds since the epoch (what a session keeps)."""
    return int(now().timestamp())


def expires_in(asked_at: int) -> int:
    """Seconds the code asked for at ``asked_at`` still works, by the asking browser's own record."""
    return max(0, asked_at + policy().ttl - _epoch())


def resend_after(asked_at: int) -> int:
    """Seconds until the browser may ask again after asking at ``asked_at``."""
    return max(0, asked_at + policy().resend_cooldown - _epoch())


def can_use_codes(user: User) -> bool:
    """Whether the account signs in by emailed code: allowed, confirmed and not a pending registration."""
    return user.signin_codes and user.email_confirmed and user.registration_handle is None


def browser_check_on(user: User) -> bool:
    """The effective new-browser check: the owner's choice, else on for admins and off for others."""
    return user.is_admin if user.new_browser_check is None else user.new_browser_check


def _issue(purpose: str, user: User) -> codes.IssuedCode:
    """Store a new code for one browser of the account, first forgetting the account's dead ones.

    Each request binds its code to a new handle, so the database store would keep a row per
    request; the rows of codes that expired or were used are deleted here (Redis expires its keys).
    """
    if isinstance(codes.store(), codes.DatabaseCodeStore):
        db.session.execute(delete(VerificationCode).where(
            VerificationCode.user_id == user.id,
            or_(VerificationCode.purpose.startswith(f"{SIGN_IN}:"),
                VerificationCode.purpose.startswith(f"{NEW_BROWSER}:")),
            or_(VerificationCode.expires_at.is_(None), VerificationCode.expires_at <= now())))
    return codes.issue_code(purpose, user.id, user.email, policy())


def _unbacked_attempt(handle: str) -> CodeError:
    """A code typed where no code is kept: counted and answered exactly as a wrong code is."""
    rules = policy()
    item = RateLimitItemPerSecond(rules.max_attempts, rules.ttl)
    key = binding(handle)
    if not ratelimit.hit(item, UNBACKED_NAMESPACE, key):
        return CodeExhausted("too many wrong codes")
    return CodeMismatch(ratelimit.remaining(item, UNBACKED_NAMESPACE, key))


# --- sign-in by emailed code ---------------------------------------------------------------------


def _request_allowed(address: str, client: str) -> bool:
    """Per client first, so a client already limited cannot use up an address's quota."""
    config = current_app.config
    return (ratelimit.hit(ratelimit.limit(config["RATELIMIT_SIGNIN_CODE_PER_CLIENT"]),
                          "signin-code-client", client)
            and ratelimit.hit(ratelimit.limit(config["RATELIMIT_SIGNIN_CODE_PER_ADDRESS"]),
                              "signin-code-address", email_key(address)))


def request_code(address: str, client: str, previous: CodeRequest | None = None) -> CodeRequest:
    """Queue a sign-in code for the address to a new handle of this browser, unless a limit is used up.

    The same work and reply for every address: no look-up here (the worker's ``build_code_email``
    makes the code only for an account that signs in by code). Asking again for the same address
    within the cooldown raises CooldownActive, timed from the browser's own ``previous`` request.
    """
    address = accounts.normalize_address(address)
    if previous is not None and email_key(previous.email) == email_key(address):
        wait = resend_after(previous.asked_at)
        if wait:
            raise CooldownActive(wait)
    handle = secrets.token_urlsafe(24)
    if _request_allowed(address, client):
        mail.defer(CODE_TEMPLATE, address, {"binding": binding(handle)}, session=db.session,
                   expires_at=now() + timedelta(seconds=policy().ttl))
    else:
        deliverability.record_skip(address, N_("rate limited"), N_("sign-in code request"))
    db.session.commit()
    return CodeRequest(handle=handle, email=address, asked_at=_epoch())


def build_code_email(address: str, params: Mapping[str, Any]) -> Message | Skip:
    """In the worker: store a code bound to the asking browser and write its email, when an account
    with this address signs in by code and its hourly budget allows."""
    bound_to = params.get("binding")
    if not isinstance(bound_to, str) or not BINDING.fullmatch(bound_to):
        return Skip("the request names no browser")
    user = accounts.find_by_email(address)
    if user is None or not can_use_codes(user):
        budget.spend(address)  # as a code would: a pause the reset page tells must not mark accounts
        return Skip("no account with this address signs in by code")
    try:
        issued = _issue(_store_purpose(SIGN_IN, bound_to), user)
    except CodeError:
        return Skip("this browser's code was already sent")
    if not budget.spend(user.email):
        return Skip("the address's hourly email budget is spent")
    envelope = Envelope(recipients=[(user.username, user.email)])
    return compose(CODE_TEMPLATE, envelope, locale=user.language, timezone=user.timezone,
                   name=user.username, code=issued.code, lifetime=issued.expires_in,
                   account_link=external_url("account.index"))


def sign_in_with_code(request: CodeRequest, typed: str, user_agent: str, client: str, remember: bool,
                      response: Response) -> User:
    """Open a session for the account the code was sent to, when it is this browser's live code, and
    trust the browser (its cookie set on ``response``); else raise the CodeError a wrong code gets
    (the same whether or not the address has an account)."""
    code = normalize_code(typed)
    if not expires_in(request.asked_at):
        raise CodeExpired("sign-in code expired")
    user = accounts.find_by_email(request.email)
    if user is None or not can_use_codes(user):
        raise _unbacked_attempt(request.handle)
    purpose = _store_purpose(SIGN_IN, binding(request.handle))
    try:
        address = codes.redeem_code(purpose, user.id, code, policy())
    except CodeExpired:
        db.session.rollback()  # no code reached this browser (yet): answered as where none can be
        raise _unbacked_attempt(request.handle) from None
    except CodeError:
        db.session.commit()
        raise
    return _open(user, address, purpose, Opening(user_agent, client, remember, response))


def _open(user: User, address: str, purpose: str, opening: Opening) -> User:
    """Open the session a redeemed code allows, forgetting the code, telling the owner of a new
    browser and trusting this one (one transaction, committed)."""
    if email_key(address) != user.email_key:
        db.session.commit()
        raise CodeExpired("the account's address changed since the code was sent")
    codes.discard(purpose, user.id)
    sessions.open_session(user, opening.user_agent, opening.client, opening.remember)
    signin_notice.notify_new_sign_in(user, opening.user_agent, opening.client)
    devices.trust_browser(user, opening.response, opening.user_agent, opening.client)
    db.session.commit()
    return user


# --- the new-browser check -----------------------------------------------------------------------


def password_sign_in(identifier: str, password: str, client: str, user_agent: str, remember: bool,
                     response: Response) -> User | BrowserCheck:
    """Sign in with the password (as ``accounts.sign_in``), or, for a browser the account does not
    trust while its check is on, email a code after the right password and return the check."""
    user = accounts.find_account(identifier)
    if user is None or not browser_check_on(user) or devices.this_browser(user) is not None:
        return accounts.sign_in(identifier, password, client, user_agent, remember, response)
    accounts.check_password(identifier, password, client)
    return _issue_check(user, user_agent, client, remember)


def _issue_check(user: User, user_agent: str, client: str, remember: bool) -> BrowserCheck:
    """Email the account a code bound to a new handle of this browser (one transaction, committed)."""
    handle = secrets.token_urlsafe(24)
    codes.reserve_email(user.email)
    issued = _issue(_store_purpose(NEW_BROWSER, binding(handle)), user)
    send_email(CHECK_TEMPLATE, (user.username, user.email), **accounts.language_of(user),
               name=user.username, code=issued.code, lifetime=issued.expires_in,
               browser=browser_name(user_agent), system=system_name(user_agent), client=client, at=now(),
               reset_link=external_url("reset.reset_password_request"), expires_at=codes.expiry(issued))
    db.session.commit()
    return BrowserCheck(handle=handle, user_id=user.id, email=user.email, remember=remember,
                        asked_at=_epoch())


def _checked_user(check: BrowserCheck) -> User:
    """The account of a check, unless its password changed since (then the check is void)."""
    user = db.session.get(User, check.user_id)
    changed = user.password_changed_at if user is not None else None
    if user is None or (changed is not None and changed.timestamp() > check.asked_at):
        raise CodeExpired("the password changed since the check began")
    return user


def resend_check(check: BrowserCheck, user_agent: str, client: str) -> BrowserCheck:
    """Email a new code for the check, after the cooldown (the earlier code stops working)."""
    wait = resend_after(check.asked_at)
    if wait:
        raise CooldownActive(wait)
    return _issue_check(_checked_user(check), user_agent, client, check.remember)


def finish_check(check: BrowserCheck, typed: str, user_agent: str, client: str, response: Response) -> User:
    """Open the session the right password began, when this browser's emailed code is typed, and
    trust the browser (its cookie set on ``response``)."""
    code = normalize_code(typed)
    user = _checked_user(check)
    purpose = _store_purpose(NEW_BROWSER, binding(check.handle))
    address = codes.redeem_recorded(purpose, user.id, code, policy())
    return _open(user, address, purpose, Opening(user_agent, client, check.remember, response))


def trust_after_reset(user: User, response: Response, user_agent: str, client: str) -> None:
    """After a reset by emailed link (which proves the mailbox), trust the browser that made it."""
    devices.trust_browser(user, response, user_agent, client)
    db.session.commit()


# --- the account's settings ----------------------------------------------------------------------


def save_settings(user: User, signin_codes: bool, new_browser_check: bool) -> None:
    """Store whether the account signs in by code and checks new browsers (kept following the role
    while the choice equals its effective value)."""
    user.signin_codes = signin_codes
    if new_browser_check != browser_check_on(user):
        user.new_browser_check = new_browser_check
    db.session.commit()
