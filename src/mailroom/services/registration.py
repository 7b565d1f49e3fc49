"""Registration that tells nobody whether an address has an account.

Every registration gets the same reply and the same next step: "we emailed a code to that
address; type it here". A free address gets a pending account and the code; a taken (or
reserved) address gets no account, and its owner gets an email saying someone tried to register
with it. The account starts only when the code is typed in the browser that registered, so an
address nobody proved to own never holds an account, and a pending registration never blocks
anyone: registering the address again replaces it.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from werkzeug.wrappers import Response

from mailroom.domain.addresses import email_key
from mailroom.domain.codes import CodeRecord, CodeState, code_state, normalize_code, seconds_until
from mailroom.domain.errors import CodeError, CodeExhausted, CodeExpired, CodeMismatch
from mailroom.domain.languages import DEFAULT_LOCALE, DEFAULT_TIMEZONE
from mailroom.emails import send_email
from mailroom.extensions import db
from mailroom.i18n import _
from mailroom.models import User
from mailroom.services import budget, codes, devices, reservations, sessions
from mailroom.services.accounts import (
    AccountError,
    find_by_email,
    find_by_username,
    language_of,
    new_user,
    normalize_address,
)
from mailroom.services.passwords import hash_password
from mailroom.state import now
from mailroom.urls import external_url

log = logging.getLogger(__name__)

PURPOSE = codes.CONFIRM_EMAIL
CODE_TEMPLATE = "register_code"
TAKEN_TEMPLATE = "register_taken"


@dataclass(frozen=True)
class Started:
    """What the registering browser keeps: a handle, the address, when it began, when its latest code
    was sent, and its wrong tries with the moment of the last one (epoch s).

    Kept alike whether or not an account waits, so the page it drives (``status``) tells nothing;
    a pending account's own code record still judges every code typed.
    """

    handle: str
    email: str
    started_at: int
    sent_at: int = 0
    failures: int = 0
    failed_at: int = 0

    def record(self, ttl: int, resend_cooldown: int) -> CodeRecord:
        """The code as this browser knows it, in the code store's terms."""
        sent = _moment(self.sent_at or self.started_at)
        failed = _moment(self.failed_at) + timedelta(seconds=ttl) if self.failures else None
        return CodeRecord(code_hash="sent", email=self.email, expires_at=sent + timedelta(seconds=ttl),
                          resend_at=sent + timedelta(seconds=resend_cooldown), failures=self.failures,
                          failures_expire_at=failed)


@dataclass(frozen=True)
class CodeStatus:
    """The one state the code page shows, with its countdowns in seconds."""

    state: CodeState
    expires_in: int
    resend_after: int
    locked: bool


def _moment(epoch: int) -> datetime:
    """An epoch second as an aware datetime."""
    return datetime.fromtimestamp(epoch, UTC)


def _epoch() -> int:
    """Now in whole epoch seconds (what a session keeps)."""
    return int(now().timestamp())


def _known(started: Started) -> CodeRecord:
    """The browser's own record of its code under the configured rules."""
    rules = codes.policy()
    return started.record(rules.ttl, rules.resend_cooldown)


def status(started: Started) -> CodeStatus:
    """What the code page shows: pending, void (wrong tries), or expired; never which address has
    an account (used codes end the registration, so that state never reaches the page)."""
    record, moment, rules = _known(started), now(), codes.policy()
    state = code_state(record, moment, rules.max_attempts)
    wait, locked = rules.resend_wait(record, moment)
    state = CodeState.EXPIRED if state is CodeState.USED else state
    live = seconds_until(record.expires_at, moment) if state is CodeState.PENDING else 0
    return CodeStatus(state=state, expires_in=live, resend_after=wait, locked=locked)


def counted_wrong(started: Started) -> Started:
    """The browser's record after one more wrong try (the store counts its own alike)."""
    rules, moment = codes.policy(), now()
    failures = _known(started).failures_at(moment)
    return replace(started, failures=min(rules.max_attempts, failures + 1), failed_at=_epoch())


def handle_digest(handle: str) -> str:
    """What the pending account keeps of the browser's handle."""
    return hashlib.sha256(handle.encode("utf-8", "surrogatepass")).hexdigest()


def _is_stale(user: User) -> bool:
    """A pending registration whose code can no longer be typed."""
    return now() - user.created_at > timedelta(seconds=codes.policy().ttl)


def _drop(user: User) -> None:
    """Forget a pending registration (its code too)."""
    codes.discard(PURPOSE, user.id)
    db.session.delete(user)
    db.session.flush()


def _claim_username(username: str, address: str) -> None:
    """Refuse a username held by an account; free one held by a stale or same-address pending one."""
    holder = find_by_username(username)
    if holder is None:
        return
    if holder.registration_handle and (_is_stale(holder) or holder.email_key == email_key(address)):
        _drop(holder)
        return
    raise AccountError("username", _("That username is taken."))


def _tell_owner(owner: User | None, address: str) -> None:
    """Email the owner of a taken address in their language, within its budget (caller commits)."""
    if not budget.spend(address):
        log.warning("registration notice withheld: the address's email budget is spent")
        return
    name = owner.username if owner else ""
    speaks = language_of(owner) if owner else {}
    send_email(TAKEN_TEMPLATE, (name, address), **speaks, name=name,
               login_url=external_url("auth.login"),
               reset_url=external_url("reset.reset_password_request"))


def _send_code(user: User) -> None:
    """Store a code and queue its email; a hitch (budget, code store) only means no code yet."""
    try:
        codes.reserve_email(user.email)
        issued = codes.issue_code(PURPOSE, user.id, user.email)
    except (codes.BudgetSpent, codes.CodeStoreUnavailable, CodeError) as error:
        log.warning("registration code for user %s not sent: %s", user.id, type(error).__name__)
        return
    send_email(CODE_TEMPLATE, (user.username, user.email), **language_of(user), name=user.username,
               code=issued.code, lifetime=issued.expires_in, expires_at=codes.expiry(issued))


def _pending_account(username: str, address: str, password: str, handle: str, language: str,
                     timezone: str) -> None:
    """Add the account that waits for its code, and send the code (caller commits)."""
    user = new_user(username, address, password, language, timezone)
    user.registration_handle = handle_digest(handle)
    db.session.add(user)
    db.session.flush()
    _send_code(user)


def start(username: str, email: str, password: str, language: str = DEFAULT_LOCALE,
          timezone: str = DEFAULT_TIMEZONE) -> Started:
    """Register: a pending account (speaking the browser's ``language`` in its ``timezone``) and its
    code for a free address, a notice for a taken one."""
    address = normalize_address(email)
    _claim_username(username, address)
    handle = secrets.token_urlsafe(24)
    holder = find_by_email(address)
    if holder is not None and holder.registration_handle:
        _drop(holder)
        holder = None
    owner_id = reservations.holder(address)
    if holder is not None or owner_id is not None:
        owner = holder or db.session.get(User, owner_id)
        hash_password(password)  # the work the other path does, so neither answers faster
        _tell_owner(owner, address)
    else:
        _pending_account(username, address, password, handle, language, timezone)
    db.session.commit()
    begun = _epoch()
    return Started(handle=handle, email=address, started_at=begun, sent_at=begun)


def _wrong_code(started: Started) -> CodeError:
    """A refused code, worded from the browser's record alone, so no answer tells whether an account
    waits (a pending account's store refuses on its own terms, and a replayed session gains nothing:
    without an account there is no code to find)."""
    rules = codes.policy()
    failures = _known(started).failures_at(now()) + 1
    return CodeMismatch(max(0, rules.max_attempts - failures))


def _refuse_by_state(started: Started) -> None:
    """Raise what a void or expired code gets, before any store is asked (alike for every address)."""
    state = status(started).state
    if state is CodeState.VOID:
        raise CodeExhausted("too many wrong codes")
    if state is not CodeState.PENDING:
        raise CodeExpired("registration expired")


def finish(started: Started, typed_code: str, user_agent: str, client: str,
           response: Response | None = None) -> User:
    """Start the account and its first session when the code matches, trusting the browser (its
    device cookie set on ``response``); else raise the CodeError a wrong code gets."""
    code = normalize_code(typed_code)
    _refuse_by_state(started)
    user = _waiting_account(started)
    if user is None:
        raise _wrong_code(started)
    try:
        codes.redeem_recorded(PURPOSE, user.id, code)
    except CodeError:
        raise _wrong_code(started) from None
    user.registration_handle = None
    user.email_confirmed = True
    user.created_at = now()
    sessions.open_session(user, user_agent, client, remember=False)
    if response is not None:
        devices.trust_browser(user, response, user_agent, client)
    db.session.commit()
    return user


def _waiting_account(started: Started) -> User | None:
    """The pending account this browser registered, if one waits."""
    found: User | None = db.session.scalar(select(User).where(
        User.registration_handle == handle_digest(started.handle)))
    return found


def send_new_code(started: Started) -> Started:
    """Email a new code for the same registration after the cooldown (else CooldownActive or
    LockedOut); the reply and the browser's record are the same whether or not an account waits."""
    record, moment = _known(started), now()
    codes.policy().check_resend(record, moment)
    user = _waiting_account(started)
    if user is not None:
        user.created_at = moment  # a pending registration with a live code is not stale
        _send_code(user)
        db.session.commit()
    failures = record.failures_at(moment)
    return replace(started, sent_at=_epoch(), failures=failures,
                   failed_at=started.failed_at if failures else 0)


def ttl() -> int:
    """Seconds a registration waits for its code."""
    return int(codes.policy().ttl)

