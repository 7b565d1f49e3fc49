"""Change of address by a code emailed to the new address; the old address can undo it for a week."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import select

from mailroom.domain.addresses import email_key
from mailroom.domain.errors import AddressInvalid, TokenExpired, TokenInvalid
from mailroom.emails import send_email
from mailroom.extensions import db
from mailroom.i18n import _, explain
from mailroom.models import User
from mailroom.services import codes, reservations
from mailroom.services.accounts import (
    AccountError,
    find_by_email,
    language_of,
    normalize_address,
    revoke_sessions,
    set_password,
)
from mailroom.services.passwords import verify_password
from mailroom.state import now
from mailroom.urls import external_url

PURPOSE = codes.EMAIL_CHANGE
CODE_TEMPLATE = "email_change_code"
NOTICE_TEMPLATE = "email_changed"
REVERT_SALT = "mailroom.email-revert"


@dataclass(frozen=True)
class RevertClaim:
    """A genuine, unexpired revert link: whose address to put back, and which one."""

    user: User
    old_email: str


def _check_new_address(user: User, raw: str) -> str:
    """The normalised new address, or AccountError on ``email`` saying what is wrong with it."""
    try:
        address = normalize_address(raw)
    except AddressInvalid as error:
        raise AccountError("email", explain(error)) from None
    if email_key(address) == user.email_key:
        raise AccountError("email", _("That is already your address."))
    if find_by_email(address) is not None or reservations.blocks(address, user.id):
        raise AccountError("email", _("Another account already uses that address."))
    return address


def request_code(user: User, new_email: str, password: str) -> codes.IssuedCode:
    """Check the password and the new address, then email a code to that address."""
    if not verify_password(user.password_hash, password):
        raise AccountError("password", _("That is not your current password."))
    address = _check_new_address(user, new_email)
    codes.check_resend(PURPOSE, user.id)
    codes.reserve_email(address)
    issued = codes.issue_code(PURPOSE, user.id, address)
    send_email(CODE_TEMPLATE, (user.username, address), **language_of(user), name=user.username,
               code=issued.code, lifetime=issued.expires_in, email=address,
               expires_at=codes.expiry(issued))
    db.session.commit()
    return issued


def pending(user: User) -> codes.PendingCode | None:
    """The address a change code is waiting for, and its timings."""
    return codes.pending(PURPOSE, user.id)


def _check_expected(user: User, expected: str | None) -> None:
    """Refuse when the form names another address than the one the code was sent to."""
    if not expected:
        return
    waiting = pending(user)
    if waiting and waiting.email and email_key(waiting.email) != email_key(expected):
        raise AccountError("email", _("The code was sent to %(email)s. Send a code to "
                                            "the new address first.", email=waiting.email))


def change_address(user: User, typed_code: str, expected_email: str | None = None) -> str:
    """Switch to the address the code was sent to; return the old one, which is told about it."""
    _check_expected(user, expected_email)
    codes.require_budget(user.email)
    new_email = codes.redeem_recorded(PURPOSE, user.id, typed_code)
    if find_by_email(new_email) is not None or reservations.blocks(new_email, user.id):
        db.session.commit()
        raise AccountError("email", _("Another account took that address meanwhile."))
    old_email = user.email
    codes.reserve_email(old_email)
    _set_address(user, new_email)
    reservations.release(user.id, new_email)
    # The old address stays this user's while the change can be undone, so no one can block it.
    reservations.reserve(user.id, old_email, now() + timedelta(seconds=revert_ttl()))
    # The code is used: nothing about it (its resend cooldown included) applies any more.
    codes.discard(PURPOSE, user.id)
    codes.discard(codes.CONFIRM_EMAIL, user.id)
    revoke_sessions(user, keep_current=True)
    _notify_old_address(user, old_email, new_email)
    db.session.commit()
    return old_email


def _set_address(user: User, address: str) -> None:
    """Give the user an address they proved they receive (caller commits)."""
    user.email = address
    user.email_key = email_key(address)
    user.email_confirmed = True


def _notify_old_address(user: User, old_email: str, new_email: str) -> None:
    """Queue the notice with the revert link to the address the account just left."""
    send_email(NOTICE_TEMPLATE, (user.username, old_email), **language_of(user), name=user.username,
               old_email=old_email, new_email=new_email, changed_at=now(), lifetime=revert_ttl(),
               expires_at=now() + timedelta(seconds=revert_ttl()),
               revert_url=external_url("account.revert_email", token=revert_token(user, old_email)))


# --- the revert link ---------------------------------------------------------------------------


def revert_ttl() -> int:
    """How long the old address may undo a change (EMAIL_REVERT_TTL)."""
    return int(current_app.config["EMAIL_REVERT_TTL"])


def _serializer() -> URLSafeSerializer:
    """Signs revert links with the application secret, salted for this one use."""
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=REVERT_SALT,
                             signer_kwargs={"digest_method": hashlib.sha256})


def revert_token(user: User, old_email: str) -> str:
    """A signed link token naming the user, the address to restore and when it was made."""
    return str(_serializer().dumps({"u": user.id, "o": old_email,
                                    "t": int(now().timestamp())}))


def _payload(token: str) -> dict[str, Any]:
    """The signed payload with the right types, else TokenInvalid."""
    try:
        payload = _serializer().loads(token)
    except BadData:
        raise TokenInvalid("not a revert link of ours") from None
    if not (isinstance(payload, dict) and isinstance(payload.get("u"), int)
            and isinstance(payload.get("o"), str) and isinstance(payload.get("t"), int)):
        raise TokenInvalid("malformed revert link")
    return payload


def read_revert(token: str, lock: bool = False) -> RevertClaim:
    """The claim of a revert link that is genuine, unexpired and not used yet.

    A link is used up once the account has its old address again, so it works once.
    """
    payload = _payload(token)
    if now().timestamp() - payload["t"] > revert_ttl():
        raise TokenExpired("revert link expired")
    query = select(User).where(User.id == payload["u"])
    user = db.session.scalar(query.with_for_update() if lock else query)
    if user is None or user.email_key == email_key(payload["o"]):
        raise TokenInvalid("nothing to revert")
    return RevertClaim(user=user, old_email=payload["o"])


def revert(token: str) -> User:
    """Put the old address back, make the password unusable and sign out every session."""
    claim = read_revert(token, lock=True)
    user = claim.user
    holder = find_by_email(claim.old_email)
    if holder is not None and holder.id != user.id:
        raise AccountError("email", _("%(email)s now belongs to another account, so it "
                                            "cannot be put back. Please contact support.",
                                            email=claim.old_email))
    _set_address(user, claim.old_email)
    reservations.release(user.id, claim.old_email)
    # Whoever made the change knew the password: only a reset through the old address helps.
    set_password(user, secrets.token_urlsafe(32))
    revoke_sessions(user)
    codes.discard(PURPOSE, user.id)
    codes.discard(codes.CONFIRM_EMAIL, user.id)
    db.session.commit()
    return user


def release_old_address(token: str) -> RevertClaim:
    """The owner says the change was theirs: the old address is free for others at once."""
    claim = read_revert(token, lock=True)
    reservations.release(claim.user.id, claim.old_email)
    db.session.commit()
    return claim
