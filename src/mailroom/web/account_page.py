"""The account page with every card filled in, and a refusal shown beside the form that was sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import render_template, request

from mailroom.domain.browsers import browser_name, describe_browser, system_name
from mailroom.i18n import _
from mailroom.models import User
from mailroom.services import codes, confirmation, deliverability, devices, email_change, sessions
from mailroom.web.http import signed_in
from mailroom.web.refusals import wait_sentence

# Which card's form an endpoint's errors belong beside.
SECTIONS = {"account.send_email_code": "send", "account.change_email": "change",
            "account.confirm_email": "confirm", "account.resend_confirmation": "confirm",
            "account_security.change_password": "password"}


def session_rows(user: User) -> list[dict[str, Any]]:
    """What the sessions card shows of each live session of the user."""
    return [{"number": record.id, "browser": describe_browser(record.user_agent),
             "client": record.client_address or _("unknown"), "created": record.created_at,
             "last_seen": record.last_seen_at, "remember": record.remember,
             "current": sessions.is_current(user, record)} for record in sessions.active(user)]


def device_rows(user: User) -> list[dict[str, Any]]:
    """What the trusted browsers card shows of each browser the account trusts."""
    current = devices.this_browser(user)
    return [{"number": device.id, "browser": browser_name(device.user_agent),
             "system": system_name(device.user_agent), "client": device.client_address or _("unknown"),
             "first_used": device.created_at, "last_used": device.last_used_at,
             "current": current is not None and current.id == device.id}
            for device in devices.devices_of(user)]


def code_state(user: User) -> dict[str, Any]:
    """What the page shows about pending codes, or that the code store is down."""
    try:
        return {"change": email_change.pending(user), "confirm": confirmation.pending(user),
                "codes_down": False}
    except codes.CodeStoreUnavailable:
        return {"change": None, "confirm": None, "codes_down": True}


def render_page(errors: Mapping[str, str] | None = None, alert: str | None = None) -> str:
    """The account page, with errors beside the fields of the form that was sent."""
    user = signed_in()
    return render_template("account/index.html", errors=errors or {}, alert=alert,
                           bounced=deliverability.bounced(user),
                           values={"email": request.form.get("email", "")},
                           section=SECTIONS.get(request.endpoint or ""), wait_sentence=wait_sentence,
                           sessions=session_rows(user), browsers=device_rows(user), **code_state(user))
