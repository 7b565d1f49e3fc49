"""The owner's notice of a sign-in from a browser the account does not trust yet.

The request stores only the intent (``mail.defer``); the worker builds the email on the account
lane, in the owner's language and time zone, within the address's hourly budget. A browser
holding the account's device cookie never causes one, and the ``signin_notices`` setting stops them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask_mail import Message
from flask_mailroom import Skip
from flask_mailroom.compose import Envelope, compose

from mailroom.domain.browsers import browser_name, system_name
from mailroom.extensions import db, mail
from mailroom.models import User
from mailroom.models.session import CLIENT_MAX, USER_AGENT_MAX
from mailroom.services import budget, devices
from mailroom.state import now
from mailroom.urls import external_url

TEMPLATE = "new_signin"


def notify_new_sign_in(user: User, user_agent: str, client: str) -> None:
    """Queue the notice of this sign-in, unless the browser is trusted or the owner turned notices off
    (caller commits)."""
    if not user.signin_notices or devices.this_browser(user) is not None:
        return
    mail.defer(TEMPLATE, user.email, {"user": user.id, "user_agent": user_agent[:USER_AGENT_MAX],
                                      "client": client[:CLIENT_MAX], "at": now().isoformat()},
               session=db.session)


def _context(user: User, params: Mapping[str, Any]) -> dict[str, Any]:
    """What the notice shows: the browser, its system, when, from where, and what to do if not them."""
    agent = str(params.get("user_agent", ""))
    return {"name": user.username, "browser": browser_name(agent), "system": system_name(agent),
            "signed_in_at": datetime.fromisoformat(str(params["at"])),
            "client": str(params.get("client", "")),
            "account_link": external_url("account.index") + "#sessions",
            "request_link": external_url("reset.reset_password_request")}


def build_new_sign_in_email(address: str, params: Mapping[str, Any]) -> Message | Skip:
    """In the worker: the notice to the account's current address, unless turned off or over budget."""
    user = db.session.get(User, int(params["user"]))
    if user is None or user.registration_handle is not None:
        return Skip("the account no longer exists")
    if not user.signin_notices:
        return Skip("the owner turned sign-in notices off")
    if not budget.spend(user.email):
        return Skip("the address's hourly email budget is spent")
    envelope = Envelope(recipients=[(user.username, user.email)])
    return compose(TEMPLATE, envelope, locale=user.language, timezone=user.timezone, **_context(user, params))
