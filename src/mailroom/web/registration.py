"""Registration, its own blueprint under ``/auth``: the form, then the emailed code.

Both steps answer the same for a free and a taken address; the browser keeps its registration
(a random handle, the address, when it began) in its session between them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user
from werkzeug.wrappers.response import Response as BaseResponse
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from mailroom.domain.codes import CodeState
from mailroom.domain.errors import N_, CodeError, CodeMismatch, CooldownActive
from mailroom.domain.languages import DEFAULT_TIMEZONE
from mailroom.i18n import _, visitor_locale
from mailroom.services import registration
from mailroom.services.accounts import AccountError
from mailroom.web.forms import Form, RegistrationForm, no_control_characters
from mailroom.web.http import user_agent, wants_json
from mailroom.web.refusals import Problem, describe, used_up
from mailroom.web.replies import first_error, json_reply
from mailroom.web.said import said, say

bp = Blueprint("registration", __name__, url_prefix="/auth")

KEY = "registration"
PAGE = "registration.register_code"
WELCOME = N_("Welcome! Your account is ready and your address is confirmed.")
NEW_CODE_SENT = N_("We emailed a new code to %(email)s; the earlier one no longer works.")


class RegistrationCodeForm(Form):
    """The code emailed to the address being registered."""

    code = StringField(_l("Code from the email"), validators=[
        DataRequired(_l("Enter the code from the email.")), Length(max=32), no_control_characters])
    submit = SubmitField(_l("Finish registering"))


def _started() -> registration.Started | None:
    """The registration this browser began, if its session holds a well-formed one."""
    kept: Any = session.get(KEY)
    if not (isinstance(kept, dict) and isinstance(kept.get("handle"), str)
            and isinstance(kept.get("email"), str) and isinstance(kept.get("at"), int)):
        return None
    return registration.Started(handle=kept["handle"], email=kept["email"], started_at=kept["at"],
                                sent_at=_number(kept, "sent"), failures=_number(kept, "failures"),
                                failed_at=_number(kept, "failed"))


def _number(kept: dict[str, Any], key: str) -> int:
    """A whole number the session keeps, 0 when it is missing or not one."""
    value = kept.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _keep(started: registration.Started) -> None:
    """Keep the registration (never its code) in the session for the next step."""
    session[KEY] = {"handle": started.handle, "email": started.email, "at": started.started_at,
                    "sent": started.sent_at, "failures": started.failures, "failed": started.failed_at}


@bp.route("/register", methods=["GET", "POST"])
def register() -> ResponseReturnValue:
    """Take the details; whatever the address, email it and ask for the code."""
    if current_user.is_authenticated:
        return redirect(url_for("account.index"))
    form = RegistrationForm()
    if form.validate_on_submit():
        try:
            started = registration.start(form.username.data or "", form.email.data or "",
                                         form.password.data or "", visitor_locale(),
                                         form.timezone.data or DEFAULT_TIMEZONE)
        except AccountError as error:
            getattr(form, error.field).errors.append(error.message)
        else:
            _keep(started)
            return redirect(url_for("registration.register_code"))
    return render_template("auth/register.html", form=form), 400 if form.errors else 200


def _code_page(form: RegistrationCodeForm, started: registration.Started,
               status: int) -> ResponseReturnValue:
    """The page asking for the code, showing the one state the code is in."""
    return render_template("auth/register_code.html", form=form, email=started.email,
                           lifetime=registration.ttl(), code=registration.status(started),
                           states=CodeState, said=said(PAGE)), status


def _code_refused(started: registration.Started, error: Problem) -> ResponseReturnValue:
    """A refused code: JSON naming the code field, or back to the page with the answer in its
    status area (post/redirect/get: a reload or Back never posts again)."""
    if wants_json():
        wait = registration.status(started).resend_after if used_up(error) else 0
        status, message, data = describe(error, wait)
        return json_reply(status, message, {**data, "field": "code"})
    # The page's own state tells the wait before a new code, live; the answer does not repeat it.
    return say(describe(error)[1], PAGE)


def _away() -> BaseResponse | None:
    """Where a browser with nothing to type here goes: the account, or the registration form."""
    if current_user.is_authenticated:
        return redirect(url_for("account.index"))
    return redirect(url_for("registration.register")) if _started() is None else None


@bp.route("/register/code", methods=["GET", "POST"])
def register_code() -> ResponseReturnValue:
    """Type the emailed code: the account starts and this browser is signed in."""
    started, away = _started(), _away()
    if away is not None or started is None:
        return away or redirect(url_for("registration.register"))
    form = RegistrationCodeForm()
    if not form.validate_on_submit():
        if form.errors and not wants_json():
            return say(first_error(form)[1], PAGE)  # post/redirect/get for an empty or unusable field too
        return _code_page(form, started, 400 if form.errors else 200)
    welcome = redirect(url_for("account.index"))
    try:
        user = registration.finish(started, form.code.data or "", user_agent(), get_remote_address() or "",
                                   welcome)
    except CodeError as error:
        if isinstance(error, CodeMismatch):
            started = registration.counted_wrong(started)
            _keep(started)
        return _code_refused(started, error)
    session.pop(KEY, None)
    login_user(user)
    flash(_(WELCOME), "success")
    return welcome


@bp.route("/register/code/new", methods=["GET", "POST"])
def new_code() -> ResponseReturnValue:
    """Email a new code for the same registration (after the cooldown); a GET only shows the page."""
    started, away = _started(), _away()
    if away is not None or started is None:
        return away or redirect(url_for("registration.register"))
    if request.method == "GET":
        return redirect(url_for(PAGE), 303)
    try:
        _keep(registration.send_new_code(started))
    except CooldownActive as error:
        return _code_refused(started, error)
    message = _(NEW_CODE_SENT, email=started.email)
    if wants_json():
        return json_reply(202, message, {"next": url_for("registration.register_code")})
    return say(message, PAGE, "info")
