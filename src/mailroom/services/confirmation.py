"""Confirmation of a new account's address by a code emailed at registration."""

from __future__ import annotations

from mailroom.domain.addresses import email_key
from mailroom.emails import send_email
from mailroom.extensions import db
from mailroom.i18n import _
from mailroom.models import User
from mailroom.services import codes
from mailroom.services.accounts import language_of
from mailroom.services.errors import AccountError
from mailroom.urls import external_url

PURPOSE = codes.CONFIRM_EMAIL
TEMPLATE = "confirm_email"


def _queue(user: User) -> codes.IssuedCode:
    """Store a code for the user's address and add its email to the outbox (caller commits)."""
    issued = codes.issue_code(PURPOSE, user.id, user.email)
    send_email(TEMPLATE, (user.username, user.email), **language_of(user), name=user.username,
               code=issued.code, lifetime=issued.expires_in,
               account_url=external_url("account.index"), expires_at=codes.expiry(issued))
    return issued


def _check_unconfirmed(user: User) -> None:
    """Refuse to work on an address that is already confirmed."""
    if user.email_confirmed:
        raise AccountError("code", _("Your address is already confirmed."))


def resend(user: User) -> codes.IssuedCode:
    """Email a new code to the user's address, after the cooldown and within the budget."""
    _check_unconfirmed(user)
    codes.check_resend(PURPOSE, user.id)
    codes.reserve_email(user.email)
    issued = _queue(user)
    db.session.commit()
    return issued


def pending(user: User) -> codes.PendingCode | None:
    """Where the confirmation code went and its timings, while the address is unconfirmed."""
    return None if user.email_confirmed else codes.pending(PURPOSE, user.id)


def confirm(user: User, typed_code: str) -> None:
    """Mark the address confirmed when the code matches; a wrong code counts against the limit."""
    _check_unconfirmed(user)
    address = codes.redeem_recorded(PURPOSE, user.id, typed_code)
    if email_key(address) != user.email_key:
        db.session.commit()
        raise AccountError("code", _("That code was for an earlier address. Ask for a new one."))
    user.email_confirmed = True
    db.session.commit()
