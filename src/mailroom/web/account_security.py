"""Account page pieces for security: the list of signed-in browsers and the change of password.

Routes on the ``account`` blueprint, each rendered by its own partial
(``account/_sessions.html``, ``account/_password.html``) included from the account page.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, logout_user

from mailroom.domain.browsers import describe_browser
from mailroom.domain.errors import N_
from mailroom.extensions import limiter
from mailroom.i18n import _
from mailroom.models import User
from mailroom.services import accounts, sessions
from mailroom.services.accounts import AccountError
from mailroom.web.account import (
    SEND_CODE_LIMIT,
    _user,
    _user_key,
    bp,
    done,
    guarded,
    invalid_form,
    problem,
    refuse,
    submitted,
)
from mailroom.web.forms import Form, current_password_field, new_password_field, repeat_password_field

CHANGED_MESSAGE = N_("Your password is changed. Every other browser signed in to your account was "
                     "signed out, and we emailed you a note about the change.")


class ChangePasswordForm(Form):
    """The current password, and the new one twice."""

    current_password = current_password_field(_l("Current password"))
    password = new_password_field(_l("New password"))
    password2 = repeat_password_field(_l("Repeat new password"))


def session_rows(user: User) -> list[dict[str, Any]]:
    """What the account page shows of each live session of the user."""
    return [{"number": record.id, "browser": describe_browser(record.user_agent),
             "client": record.client_address or _("unknown"), "created": record.created_at,
             "last_seen": record.last_seen_at, "remember": record.remember,
             "current": sessions.is_current(user, record)} for record in sessions.active(user)]


@bp.context_processor
def _session_list() -> dict[str, Any]:
    """Give the account pages the signed-in user's sessions (for ``account/_sessions.html``)."""
    return {"sessions": session_rows(_user()) if current_user.is_authenticated else []}


@bp.post("/password")
@login_required
@limiter.limit(SEND_CODE_LIMIT, key_func=_user_key)
@guarded
def change_password() -> ResponseReturnValue:
    """Check the current password, set the new one, end the other sessions, send the notice."""
    form = ChangePasswordForm(formdata=submitted())
    if not form.validate():
        return invalid_form(form)
    try:
        accounts.change_password(_user(), form.current_password.data or "", form.password.data or "")
    except AccountError as error:
        return refuse(error)
    return done(_(CHANGED_MESSAGE), {})


@bp.post("/sessions/<int:number>/end")
@login_required
def end_session(number: int) -> ResponseReturnValue:
    """Sign out one browser; ending this one signs this browser out."""
    user = _user()
    current = next((row for row in session_rows(user) if row["current"]), None)
    if not sessions.end(user, number):
        return problem(404, _("That session has already ended."), {"field": "session"}, None)
    if current and current["number"] == number:
        user.session_id = None
        logout_user()
        flash(_("You are signed out."), "info")
        return redirect(url_for("main.index"))
    return done(_("That browser is signed out."), {"ended": number})


@bp.post("/sessions/end-others")
@login_required
def end_other_sessions() -> ResponseReturnValue:
    """Sign out every other browser, keeping this one."""
    sessions.end_others(_user())
    return done(_("Every other browser is signed out."), {})
