"""Account security, its own blueprint under ``/account``: the change of password and the list of
signed-in browsers, each a card of the account page (``account/_password.html``, ``_sessions.html``)."""

from __future__ import annotations

from flask import Blueprint, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import login_required, logout_user

from mailroom.domain.errors import N_
from mailroom.extensions import limiter
from mailroom.i18n import _
from mailroom.models import User
from mailroom.services import accounts, sessions
from mailroom.services.accounts import AccountError
from mailroom.web.forms import Form, current_password_field, new_password_field, repeat_password_field
from mailroom.web.http import REAUTH_LIMIT, signed_in, submitted, user_key
from mailroom.web.replies import done, guarded, invalid_form, problem, redirect_with, refuse

bp = Blueprint("account_security", __name__, url_prefix="/account")

CHANGED_MESSAGE = N_("Your password is changed. Every other browser signed in to your account was "
                     "signed out, and we emailed you a note about the change.")


class ChangePasswordForm(Form):
    """The current password, and the new one twice."""

    current_password = current_password_field(_l("Current password"))
    password = new_password_field(_l("New password"))
    password2 = repeat_password_field(_l("Repeat new password"))


@bp.post("/password")
@login_required
@limiter.limit(REAUTH_LIMIT, key_func=user_key)
@guarded
def change_password() -> ResponseReturnValue:
    """Check the current password, set the new one, end the other sessions, send the notice."""
    form = ChangePasswordForm(formdata=submitted())
    if not form.validate():
        return invalid_form(form)
    try:
        accounts.change_password(signed_in(), form.current_password.data or "", form.password.data or "")
    except AccountError as error:
        return refuse(error)
    return done(_(CHANGED_MESSAGE), {})


def _is_this_browser(user: User, number: int) -> bool:
    """Whether session ``number`` is the one this request comes from."""
    return any(record.id == number and sessions.is_current(user, record) for record in sessions.active(user))


@bp.post("/sessions/<int:number>/end")
@login_required
def end_session(number: int) -> ResponseReturnValue:
    """Sign out one browser; ending this one signs this browser out."""
    user = signed_in()
    this_browser = _is_this_browser(user, number)
    if not sessions.end(user, number):
        return problem(404, _("That session has already ended."), {"field": "session"})
    if this_browser:
        user.session_id = None
        logout_user()
        return redirect_with(_("You are signed out."), url_for("main.index"), "info")
    return done(_("That browser is signed out."), {"ended": number})


@bp.post("/sessions/end-others")
@login_required
def end_other_sessions() -> ResponseReturnValue:
    """Sign out every other browser, keeping this one."""
    sessions.end_others(signed_in())
    return done(_("Every other browser is signed out."), {})
