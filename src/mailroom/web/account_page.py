"""The account page with every card filled in, and each card's answer shown in that card.

A card's form posts, and the reply is a 303 back to ``/account#<card>`` (post/redirect/get): the
answer waits in the session for one read, so a reload or Back never sends the form again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from flask import redirect, render_template, request, session, url_for
from werkzeug.wrappers.response import Response as BaseResponse

from mailroom.domain.browsers import browser_name, describe_browser, system_name
from mailroom.domain.codes import CodeState
from mailroom.i18n import _
from mailroom.models import User
from mailroom.services import budget, codes, deliverability, devices, email_change, sessions
from mailroom.services.code_views import CodeView, view
from mailroom.state import now
from mailroom.web.http import signed_in
from mailroom.web.refusals import wait_sentence

ANSWER = "account_answer"
# Where this browser's last change-of-address code went and until when it worked (no secret), so
# the card can still say "expired" once a store that drops expired codes (Redis) has forgotten it.
SENT = "change_code_sent"
# Which card answers each endpoint, and which form of the card its field errors belong to.
CARDS: dict[str, tuple[str, str | None]] = {
    "account.send_email_code": ("change-email", "send"), "account.change_email": ("change-email", "change"),
    "account.confirm_email": ("confirm", "confirm"), "account.resend_confirmation": ("confirm", "confirm"),
    "account.try_again": ("address", None), "account.preferences": ("preferences", None),
    "account_security.change_password": ("change-password", "password"),
    "account_security.end_session": ("sessions", None),
    "account_security.end_other_sessions": ("sessions", None),
    "account_devices.forget_browser": ("browsers", None),
    "account_devices.forget_all_browsers": ("browsers", None),
    "signin.settings": ("signin", None), "language.preferences": ("language-preferences", None),
}
# Fields whose typed value may come back after a redirect (never a password or a code).
KEPT_VALUES = ("email",)
# The forms whose code field exists only while their code is pending (the key of their code card).
CODE_FORMS = frozenset({"change", "confirm"})
# The inputs a field error can stand beside on the page.
INPUTS = frozenset({"email", "password", "current_password", "password2", "code"})


def session_rows(user: User) -> list[dict[str, Any]]:
    """What the sessions card shows of each live session of the user, this browser's first."""
    rows = [{"number": record.id, "browser": describe_browser(record.user_agent),
             "client": record.client_address or _("unknown"), "created": record.created_at,
             "last_seen": record.last_seen_at, "remember": record.remember,
             "current": sessions.is_current(user, record)} for record in sessions.active(user)]
    return sorted(rows, key=lambda row: not row["current"])


def device_rows(user: User) -> list[dict[str, Any]]:
    """What the trusted browsers card shows of each browser the account trusts, this one first."""
    current = devices.this_browser(user)
    rows = [{"number": device.id, "browser": browser_name(device.user_agent),
             "system": system_name(device.user_agent), "client": device.client_address or _("unknown"),
             "first_used": device.created_at, "last_used": device.last_used_at,
             "current": current is not None and current.id == device.id}
            for device in devices.devices_of(user)]
    return sorted(rows, key=lambda row: not row["current"])


def remember_sent(email: str, expires_in: int) -> None:
    """Note in the session where the change-of-address code went and when it stops working."""
    session[SENT] = {"email": email, "until": now().timestamp() + expires_in}


def forget_sent() -> None:
    """The code was used: nothing is left to say about it."""
    session.pop(SENT, None)


def with_expiry_noted(found: CodeView) -> CodeView:
    """The store's view, or EXPIRED when the store kept nothing of a code this browser asked for and
    which has run out (said for as long again as the code lived, then forgotten)."""
    sent, moment = session.get(SENT), now().timestamp()
    if found.name != "none" or not isinstance(sent, dict) or not sent.get("until") or not sent.get("email"):
        return found
    until, lived = float(sent["until"]), codes.policy().ttl
    if not until <= moment < until + lived:
        return found
    return replace(found, state=CodeState.EXPIRED, email=str(sent["email"]))


def code_cards(user: User) -> dict[str, Any]:
    """Each code card's one state (change of address, confirmation), or that the code store is down."""
    try:
        return {"change": with_expiry_noted(view(email_change.PURPOSE, user.id)),
                "confirm": view(codes.CONFIRM_EMAIL, user.id), "codes_down": False}
    except codes.CodeStoreUnavailable:
        return {"change": CodeView(), "confirm": CodeView(), "codes_down": True}


def card_view(purpose: str, user: User) -> dict[str, Any] | None:
    """A code's state as JSON replies carry it to account.js; None when the code store is down."""
    try:
        found = view(purpose, user.id)
    except codes.CodeStoreUnavailable:
        return None
    return (with_expiry_noted(found) if purpose == email_change.PURPOSE else found).as_data()


def mail_paused_until(user: User) -> datetime | None:
    """Until when account mail to the user's address is held back by its hourly budget, if it is."""
    return budget.paused_until(user.email)


# --- answers inside their card ------------------------------------------------------------------


def card_of_request() -> tuple[str, str | None]:
    """The card (and its form) that the current request's form belongs to."""
    return CARDS.get(request.endpoint or "", ("address", None))


def card_url(card: str) -> str:
    """The account page scrolled to one card."""
    return url_for("account.index", _anchor=card)


def answer(kind: str, message: str, errors: Mapping[str, str] | None = None) -> BaseResponse:
    """Keep a card's answer for the next page view and send the browser there (303 See Other)."""
    card, form = card_of_request()
    values = {name: str(request.form.get(name, ""))[:254] for name in KEPT_VALUES if errors}
    session[ANSWER] = {"card": card, "form": form, "kind": kind, "message": str(message),
                       "errors": {name: str(text) for name, text in (errors or {}).items()},
                       "values": values}
    return redirect(card_url(card), 303)


def take_answer() -> dict[str, Any]:
    """The answer waiting for this page view (read once), or an empty one."""
    kept = session.pop(ANSWER, None)
    return kept if isinstance(kept, dict) else {}


def _with_status(kept: dict[str, Any], views: Mapping[str, Any]) -> dict[str, Any]:
    """The answer with the sentence its card's status area shows: the message itself, or a pointer to
    the marked fields; none where the card's code state line already says it (code sent, void)."""
    if not kept:
        return kept
    errors = kept.get("errors") or {}
    if kept.get("form") == "send" and kept.get("kind") == "success":
        return {}  # the card's state line says where the code went
    form = kept.get("form")
    state = views[form].name if form in CODE_FORMS else "pending"
    if state != "pending":
        # Void or expired: the card's state line is the answer; with no code left, the message is.
        return {**kept, "errors": {}, "status": kept.get("message")} if state == "none" else {}
    if any(name in INPUTS for name in errors):
        return {**kept, "status": _("Nothing was changed: please correct the marked field.")}
    return kept


def render_page() -> str:
    """The account page, with the last answer in its card and field errors beside their fields."""
    user = signed_in()
    views = code_cards(user)
    kept = _with_status(take_answer(), views)
    if kept.get("card") == "confirm" and user.email_confirmed:
        kept["card"] = "address"  # the confirmation card is gone once the address is confirmed
    return render_template("account/index.html", answer=kept, errors=kept.get("errors", {}),
                           values=kept.get("values", {}), section=kept.get("form"),
                           bounced=deliverability.bounced(user), paused_until=mail_paused_until(user),
                           wait_sentence=wait_sentence, sessions=session_rows(user),
                           browsers=device_rows(user), **views)
