"""Registration, its own blueprint under ``/auth``: the form, then the emailed code.

Both steps answer the same for a free and a taken address; the browser keeps its registration
(a random handle, the address, when it began) in its session between them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from mailroom.domain.errors import N_, CodeError
from mailroom.domain.languages import DEFAULT_TIMEZONE
from mailroom.i18n import _, visitor_locale
from mailroom.services import registration
from mailroom.services.accounts import AccountError
from mailroom.web.forms import Form, RegistrationForm, no_control_characters
from mailroom.web.http import user_agent, wants_json
from mailroom.web.refusals import describe
from mailroom.web.replies import json_reply

bp = Blueprint("registration", __name__, url_prefix="/auth")

KEY = "registration"
WELCOME = N_("Welcome! Your account is ready and your address is confirmed.")


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
    return registration.Started(handle=kept["handle"], email=kept["email"], started_at=kept["at"])


@bp.route("/register", methods=["GET", "POST"])
def register() -> ResponseReturnValue:
    """Take the details; whatever the address, email it and ask for the code."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegistrationForm()
    if form.validate_on_submit():
        try:
            started = registration.start(form.username.data or "", form.email.data or "",
                                         form.password.data or "", visitor_locale(),
                                         form.timezone.data or DEFAULT_TIMEZONE)
        except AccountError as error:
            getattr(form, error.field).errors.append(error.message)
        else:
            session[KEY] = {"handle": started.handle, "email": started.email, "at": started.started_at}
            return redirect(url_for("registration.register_code"))
    return render_template("auth/register.html", form=form), 400 if form.errors else 200


def _code_page(form: RegistrationCodeForm, started: registration.Started,
               status: int) -> ResponseReturnValue:
    """The page asking for the code."""
    return render_template("auth/register_code.html", form=form, email=started.email,
                           lifetime=registration.ttl()), status


def _code_refused(form: RegistrationCodeForm, started: registration.Started,
                  error: CodeError) -> ResponseReturnValue:
    """A refused code: JSON naming the code field, or the page with the message beside it."""
    status, message, data = describe(error)
    if wants_json():
        return json_reply(status, message, {**data, "field": "code"})
    form.code.errors.append(message)
    return _code_page(form, started, status)


@bp.route("/register/code", methods=["GET", "POST"])
def register_code() -> ResponseReturnValue:
    """Type the emailed code: the account starts and this browser is signed in."""
    started = _started()
    if current_user.is_authenticated or started is None:
        return redirect(url_for("main.index" if current_user.is_authenticated else "registration.register"))
    form = RegistrationCodeForm()
    if not form.validate_on_submit():
        return _code_page(form, started, 400 if form.errors else 200)
    welcome = redirect(url_for("account.index"))
    try:
        user = registration.finish(started, form.code.data or "", user_agent(), get_remote_address() or "",
                                   welcome)
    except CodeError as error:
        return _code_refused(form, started, error)
    session.pop(KEY, None)
    login_user(user)
    flash(_(WELCOME), "success")
    return welcome

